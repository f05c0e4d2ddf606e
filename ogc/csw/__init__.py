"""CSW 2.0.2 and 3.0 at /csw: pycsw 2.6.2 in its own environment and process, its repository derived from the store.

``records`` turns dataset graphs into pycsw rows, ``repository`` keeps the repository (SQLite, or PostgreSQL
through ``databases``) in step with the store, ``process`` owns the pycsw child process, ``service`` is the WSGI
app that runs inside it (docs/csw.md).
Nothing is imported here: ``service`` runs in pycsw's own environment, which has none of the main one's packages.
"""


def __getattr__(name: str):
    if name == "CswService":
        from ogc.csw.process import CswService

        return CswService
    if name == "CswRepository":
        from ogc.csw.repository import CswRepository

        return CswRepository
    raise AttributeError(name)
