"""The version of the published contracts: the ``shoebox-events`` wheel's version and the AsyncAPI
document's ``info.version``.

Bump the minor part when an event type or an event version is added (what a consumer may start to receive),
the patch part for documentation only. Published event versions never change incompatibly (the compat
checker, ``shared/events/schemas/compat.py``), so the major part stays.
"""

__version__ = "1.0.0"
CONTRACTS_VERSION = __version__
