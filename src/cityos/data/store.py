"""Tables of the data context: the five base databases, the subject databases
(materialised), the catalog, and import progress. SQL of the context lives here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    Date,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from cityos.core.db import JSONType, UTCDateTime, metadata
from cityos.core.store import BigId

# --- base databases --------------------------------------------------------------

buildings = Table(
    "buildings", metadata,
    Column("building_id", String(24), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("address", String(300), nullable=False),
    Column("use", String(20), nullable=False),
    Column("floors", Integer, nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("grid_code", String(15), nullable=False, index=True),
)

pois = Table(
    "pois", metadata,
    Column("poi_id", String(24), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("category", String(40), nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("grid_code", String(15), nullable=False, index=True),
)

residents = Table(
    "residents", metadata,
    Column("id_number", String(18), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("gender", String(1), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("ethnicity", String(20), nullable=False),
    Column("household_id", String(24), nullable=False, index=True),
    Column("household_role", String(10), nullable=False),
    Column("registered_address", String(300), nullable=False),
    Column("actual_address", String(300), nullable=False),
    Column("building_id", String(24)),
    Column("grid_code", String(15), nullable=False, index=True),
    Column("phone", String(20)),
    Column("status", String(12), nullable=False),
)

legal_entities = Table(
    "legal_entities", metadata,
    Column("uscc", String(18), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("entity_type", String(24), nullable=False),
    Column("legal_rep_id", String(18), nullable=False, index=True),
    Column("legal_rep_name", String(100), nullable=False),
    Column("industry_code", String(4), nullable=False),
    Column("registered_capital", Float, nullable=False),
    Column("address", String(300), nullable=False),
    Column("grid_code", String(15), nullable=False, index=True),
    Column("status", String(12), nullable=False),
    Column("established_on", Date, nullable=False),
    Column("updated_on", Date),
)

licences = Table(
    "licences", metadata,
    Column("licence_no", String(40), primary_key=True),
    Column("licence_type", String(60), nullable=False),
    Column("holder_type", String(8), nullable=False),
    Column("holder_id", String(18), nullable=False, index=True),
    Column("holder_name", String(200), nullable=False),
    Column("issuer_dept", String(120), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("valid_until", Date, index=True),
    Column("status", String(10), nullable=False),
    Column("content", JSONType),
    Column("content_hash", String(64)),
    Column("grid_code", String(15), nullable=False, index=True),
)

credit_records = Table(
    "credit_records", metadata,
    Column("record_no", String(40), primary_key=True),
    Column("subject_type", String(8), nullable=False),
    Column("subject_id", String(18), nullable=False, index=True),
    Column("subject_name", String(200), nullable=False),
    Column("record_type", String(16), nullable=False),
    Column("source_dept", String(120), nullable=False),
    Column("decided_on", Date, nullable=False),
    Column("valid_until", Date),
    Column("status", String(10), nullable=False),
    Column("summary", Text),
    Column("grid_code", String(15), nullable=False, index=True),
)

# Areas around geological-hazard risk points (a simple polygon table; perception's
# risk points, when present, can fill it).
risk_areas = Table(
    "risk_areas", metadata,
    Column("code", String(24), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("risk_level", String(10), nullable=False),
    Column("geometry", Text, nullable=False),  # GeoJSON polygon
    Column("min_lon", Float, nullable=False),
    Column("min_lat", Float, nullable=False),
    Column("max_lon", Float, nullable=False),
    Column("max_lat", Float, nullable=False),
    Column("grid_code", String(15), nullable=False),
)

# --- subject databases (materialised query results) ---------------------------------

subj_elderly_alone = Table(
    "subj_elderly_alone", metadata,
    Column("id_number", String(18), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("household_id", String(24), nullable=False),
    Column("actual_address", String(300), nullable=False),
    Column("phone", String(20)),
    Column("grid_code", String(15), nullable=False, index=True),
)

subj_enterprises_by_industry_grid = Table(
    "subj_enterprises_by_industry_grid", metadata,
    Column("industry_code", String(4), primary_key=True),
    Column("grid_code", String(15), primary_key=True),
    Column("entities", Integer, nullable=False),
    Column("registered_capital", Float, nullable=False),
)

subj_licences_expiring = Table(
    "subj_licences_expiring", metadata,
    Column("licence_no", String(40), primary_key=True),
    Column("licence_type", String(60), nullable=False),
    Column("holder_type", String(8), nullable=False),
    Column("holder_id", String(18), nullable=False),
    Column("holder_name", String(200), nullable=False),
    Column("valid_until", Date, nullable=False),
    Column("grid_code", String(15), nullable=False, index=True),
)

subj_residents_in_risk_areas = Table(
    "subj_residents_in_risk_areas", metadata,
    Column("id_number", String(18), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("phone", String(20)),
    Column("building_id", String(24), nullable=False),
    Column("risk_area_code", String(24), nullable=False),
    Column("risk_level", String(10), nullable=False),
    Column("grid_code", String(15), nullable=False, index=True),
)

# --- the catalog ----------------------------------------------------------------------

catalog_orgs = Table(
    "catalog_orgs", metadata,
    Column("name", String(100), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("title_en", String(200), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

catalog_groups = Table(
    "catalog_groups", metadata,
    Column("name", String(100), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("title_en", String(200), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

catalog_datasets = Table(
    "catalog_datasets", metadata,
    Column("name", String(100), primary_key=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("title", String(300), nullable=False),
    Column("notes", Text, nullable=False, default=""),
    Column("owner_org", String(100), nullable=False, index=True),
    Column("kind", String(12), nullable=False),
    Column("sharing_type", String(16), nullable=False),
    Column("open_type", String(16), nullable=False),
    Column("update_frequency", String(12), nullable=False),
    Column("security_level", String(4), nullable=False),
    Column("fields", JSONType, nullable=False),
    Column("sources", JSONType, nullable=False),  # lineage: names of the datasets it derives from
    Column("query", Text),  # subject databases: the declaring query, for lineage display
    Column("row_count", BigId),
    Column("refreshed_at", UTCDateTime),
    Column("search_text", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("modified_at", UTCDateTime, nullable=False, index=True),
)

catalog_tags = Table(
    "catalog_tags", metadata,
    Column("dataset", String(100), primary_key=True),
    Column("tag", String(100), primary_key=True),
    Index("ix_catalog_tags_tag", "tag"),
)

catalog_memberships = Table(
    "catalog_memberships", metadata,
    Column("dataset", String(100), primary_key=True),
    Column("group_name", String(100), primary_key=True),
    Index("ix_catalog_memberships_group", "group_name"),
)

catalog_resources = Table(
    "catalog_resources", metadata,
    Column("id", String(100), primary_key=True),
    Column("dataset", String(100), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("format", String(40), nullable=False),
    Column("url", String(500), nullable=False),
    Column("datastore_table", String(100)),
    Column("position", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
)

# --- imports ------------------------------------------------------------------------

data_imports = Table(
    "data_imports", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("dataset", String(100), nullable=False),
    Column("file_name", String(500), nullable=False),
    Column("file_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # running | done | failed | rolled_back
    Column("rows_done", BigId, nullable=False, default=0),  # committed row offset (resume point)
    Column("accepted", BigId, nullable=False, default=0),
    Column("rejected", BigId, nullable=False, default=0),
    Column("reject_file", String(500)),
    Column("error", Text),
    Column("actor", String(80), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_data_imports_file", "dataset", "file_hash"),
)

DATASTORE_TABLES: dict[str, Table] = {t.name: t for t in (
    residents, legal_entities, buildings, pois, licences, credit_records, subj_elderly_alone,
    subj_enterprises_by_industry_grid, subj_licences_expiring, subj_residents_in_risk_areas)}


def insert_fn(conn: Any) -> Any:
    from cityos.core.db import upsert_insert

    return lambda table: upsert_insert(conn, table)
