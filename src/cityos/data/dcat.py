"""DCAT-AP export of the whole catalog (rdflib graph, serialised as JSON-LD or Turtle)."""

from __future__ import annotations

from rdflib import RDF, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, XSD

from cityos.bootstrap import Platform
from cityos.data import catalog

ADMS = Namespace("http://www.w3.org/ns/adms#")
FREQ = Namespace("http://publications.europa.eu/resource/authority/frequency/")
ACCESS = Namespace("http://publications.europa.eu/resource/authority/access-right/")
FREQUENCY = {"realtime": "CONT", "daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY",
             "quarterly": "QUARTERLY", "yearly": "ANNUAL", "irregular": "IRREG"}
ACCESS_RIGHT = {"open": "PUBLIC", "conditional_open": "RESTRICTED", "not_open": "NON_PUBLIC"}


def graph(p: Platform, base: str) -> Graph:
    g = Graph()
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("adms", ADMS)):
        g.bind(prefix, ns)
    cat = URIRef(f"{base}/catalog")
    g.add((cat, RDF.type, DCAT.Catalog))
    g.add((cat, DCTERMS.title, Literal("CityOS 数据目录", lang="zh")))
    g.add((cat, DCTERMS.title, Literal("CityOS data catalog", lang="en")))
    g.add((cat, DCTERMS.description, Literal("Base and subject databases of the city", lang="en")))
    g.add((cat, FOAF.homepage, URIRef(f"{base}/data")))
    with p.db.read() as conn:
        orgs = catalog.orgs(conn)
        rows = catalog.all_rows(conn)
        pkgs = catalog.package_dicts(conn, rows, base)
    for name, o in orgs.items():
        agent = URIRef(f"{base}/data/organization/{name}")
        g.add((agent, RDF.type, FOAF.Agent))
        g.add((agent, FOAF.name, Literal(o["title"], lang="zh")))
        g.add((agent, FOAF.name, Literal(o["title_en"], lang="en")))
    for pkg in pkgs:
        ds = URIRef(f"{base}/data/dataset/{pkg['name']}")
        g.add((cat, DCAT.dataset, ds))
        g.add((ds, RDF.type, DCAT.Dataset))
        g.add((ds, DCTERMS.identifier, Literal(pkg["id"])))
        g.add((ds, DCTERMS.title, Literal(pkg["title"], lang="zh")))
        g.add((ds, DCTERMS.description, Literal(pkg["notes"])))
        g.add((ds, DCTERMS.publisher, URIRef(f"{base}/data/organization/{pkg['owner_org']}")))
        g.add((ds, DCTERMS.issued, Literal(pkg["metadata_created"], datatype=XSD.dateTime)))
        g.add((ds, DCTERMS.modified, Literal(pkg["metadata_modified"], datatype=XSD.dateTime)))
        g.add((ds, DCTERMS.accrualPeriodicity, FREQ[FREQUENCY.get(pkg["update_frequency"], "IRREG")]))
        g.add((ds, DCTERMS.accessRights, ACCESS[ACCESS_RIGHT.get(pkg["open_type"], "NON_PUBLIC")]))
        g.add((ds, DCAT.landingPage, URIRef(f"{base}/data/dataset/{pkg['name']}")))
        for t in pkg["tags"]:
            g.add((ds, DCAT.keyword, Literal(t["name"])))
        for grp in pkg["groups"]:
            g.add((ds, DCAT.theme, URIRef(f"{base}/data/group/{grp['name']}")))
        for src in pkg["sources"] or []:
            g.add((ds, DCTERMS.source, URIRef(f"{base}/data/dataset/{src}")))
        for r in pkg["resources"]:
            dist = URIRef(f"{base}/data/resource/{r['id']}")
            g.add((ds, DCAT.distribution, dist))
            g.add((dist, RDF.type, DCAT.Distribution))
            g.add((dist, DCTERMS.title, Literal(r["name"])))
            g.add((dist, DCAT.accessURL, URIRef(r["url"])))
            g.add((dist, DCTERMS["format"], Literal(r["format"])))
    return g


def export(p: Platform, base: str, fmt: str) -> str:
    g = graph(p, base)
    if fmt == "json-ld":
        return g.serialize(format="json-ld", context={"dcat": str(DCAT), "dct": str(DCTERMS), "foaf": str(FOAF)},
                           indent=1)
    return g.serialize(format=fmt)
