"""The suite's thread counts and dtypes as text: parsed and checked in one place.

``fastnn bench --threads/--dtypes``, ``fastnn compare --dtype`` and the
plugin's ``--fastnn-threads/--fastnn-dtypes`` read them with these functions,
so a bad value gets the same one-line message wherever it is given.
"""

from fastnn._config import MAX_THREADS

#: The dtypes the suite measures.
DTYPES = ("float32", "float64")


def parse_threads(text):
    """Thread counts from ``"1,2"``.

    Parameters
    ----------
    text : str
        Comma-separated integers from 1 to :data:`fastnn._config.MAX_THREADS`.

    Returns
    -------
    list of int
        In the order given, without repeats.

    Raises
    ------
    ValueError
        Naming the text and what is accepted.
    """
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or not all(1 <= n <= MAX_THREADS for n in counts):
        raise ValueError("expected comma-separated thread counts from 1 to %d such as 1,2, "
                         "got %r" % (MAX_THREADS, text))
    return list(dict.fromkeys(counts))


def parse_dtypes(text):
    """Dtypes from ``"float32,float64"``.

    Parameters
    ----------
    text : str
        Comma-separated names among :data:`DTYPES`.

    Returns
    -------
    list of str
        In the order given, without repeats.

    Raises
    ------
    ValueError
        Naming the text and what is accepted.
    """
    dtypes = [part.strip() for part in text.split(",")]
    if not all(d in DTYPES for d in dtypes):
        raise ValueError("expected comma-separated dtypes among %s, got %r"
                         % (", ".join(DTYPES), text))
    return list(dict.fromkeys(dtypes))
