"""The ledger's rules without IO: attribute schemas, lifecycle, dependencies, applications."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cityos.core.errors import Conflict, IllegalTransition, ValidationError
from cityos.ledger import model
from cityos.ledger.model import NewResource, Probe


def res(**kw: object) -> NewResource:
    base: dict[str, object] = dict(code="APP-001", rtype="application", name_zh="城市运行平台", name_en="Ops",
                                   owner_unit="C-500000", level="city", division_code="500000",
                                   attributes={"url": "https://ops.example.gov.cn"})
    base.update(kw)
    return NewResource(**base)  # type: ignore[arg-type]


def test_a_valid_resource_of_each_type_passes() -> None:
    examples = {
        "application": {"url": "https://a.example"},
        "cloud": {"kind": "database", "provider": "政务云", "instance_id": "db-1", "engine": "postgresql"},
        "network": {"kind": "video_network", "circuit_id": "VN-7"},
        "perception": {"kind": "video_channel", "device_code": "CAM-1", "channel_no": 2},
        "data": {"kind": "service_interface", "catalog_id": "pop-01", "sharing": "conditional", "path": "/ds/v1/x"},
        "component": {"key": "geo.locate", "endpoint": "/api/v1/geo/locate"},
    }
    for rtype, attrs in examples.items():
        model.validate_new(res(code=f"R-{rtype}", rtype=rtype, attributes=attrs))


@pytest.mark.parametrize(("rtype", "attrs", "field", "words"), [
    ("cloud", {"kind": "compute", "provider": "x", "instance_id": "i-1", "vcpu": 4}, "attributes.memory_gb",
     "'memory_gb' is a required property"),
    ("cloud", {"kind": "gpu", "provider": "x", "instance_id": "i-1"}, "attributes.kind", "is not one of"),
    ("perception", {"kind": "video_channel", "device_code": "C"}, "attributes.channel_no", "required"),
    ("application", {"url": "ftp://x"}, "attributes.url", "does not match"),
    ("application", {"url": "https://x", "colour": "red"}, "attributes.colour", "Additional properties"),
    ("network", {"kind": "link", "circuit_id": "L", "bandwidth_mbps": -1}, "attributes.bandwidth_mbps", "less than"),
])
def test_bad_attributes_name_the_resource_and_the_attribute(rtype: str, attrs: dict[str, object], field: str,
                                                             words: str) -> None:
    with pytest.raises(ValidationError) as e:
        model.validate_new(res(code="BAD-1", rtype=rtype, attributes=attrs))
    assert e.value.field == field
    assert "BAD-1" in e.value.message and words in e.value.message


def test_common_fields_are_checked() -> None:
    with pytest.raises(ValidationError, match="does not match division"):
        model.validate_new(res(level="district"))
    with pytest.raises(ValidationError) as e:
        model.validate_new(res(division_code="50x"))
    assert e.value.field == "division_code" and "APP-001" in e.value.message
    with pytest.raises(ValidationError) as e:
        model.validate_new(res(rtype="printer"))
    assert e.value.field == "type"
    with pytest.raises(ValidationError) as e:
        model.validate_new(res(code="a b"))
    assert e.value.field == "code"
    with pytest.raises(ValidationError) as e:
        model.validate_new(res(tags=("ok", "not ok")))
    assert e.value.field == "tags"


def test_identity_key_ignores_other_attributes() -> None:
    a = model.identity_key("cloud", {"kind": "compute", "provider": "p", "instance_id": "i", "vcpu": 2})
    b = model.identity_key("cloud", {"kind": "compute", "provider": "p", "instance_id": "i", "vcpu": 8})
    assert a == b
    assert a != model.identity_key("cloud", {"provider": "q", "instance_id": "i"})


def test_the_lifecycle_happy_path() -> None:
    state = "draft"
    for action, expected in [("submit", "submitted"), ("approve", "approved"), ("publish", "online"),
                             ("take_offline", "offline"), ("publish", "online"), ("take_offline", "offline"),
                             ("retire", "retired")]:
        state = model.transition("X", state, action, "because")
        assert state == expected
    assert model.allowed_actions("retired") == []
    assert model.transition("X", "submitted", "reject", "incomplete") == "draft"


def test_an_illegal_transition_names_the_state_and_the_allowed_ones() -> None:
    with pytest.raises(IllegalTransition) as e:
        model.transition("APP-9", "draft", "publish", None)
    msg = e.value.message
    assert "APP-9 is draft" in msg and "submit (→ submitted)" in msg and "retire" in msg
    assert e.value.details["allowed"] == ["submit", "retire"]
    with pytest.raises(IllegalTransition, match="none"):
        model.transition("APP-9", "retired", "publish", None)
    with pytest.raises(ValidationError, match="needs a reason"):
        model.transition("APP-9", "online", "take_offline", " ")
    with pytest.raises(ValidationError) as v:
        model.transition("APP-9", "online", "explode", None)
    assert v.value.field == "action"


def test_retiring_a_resource_in_use_lists_the_dependents() -> None:
    model.check_retire("C-1", [("OLD", "retired")])
    with pytest.raises(Conflict) as e:
        model.check_retire("C-1", [("APP-1", "online"), ("APP-2", "draft"), ("OLD", "retired")])
    assert "C-1 is in use" in e.value.message and "APP-1, APP-2" in e.value.message
    assert e.value.details == {"dependents": ["APP-1", "APP-2"]}


def test_dependency_rules() -> None:
    model.check_dependency("APP", "application", "COMP", "component")
    with pytest.raises(ValidationError, match="a network may use nothing"):
        model.check_dependency("NET", "network", "APP", "application")
    with pytest.raises(ValidationError, match="itself"):
        model.check_dependency("A", "application", "A", "application")
    model.check_cycle("APP-1", "application", "APP-2", ["APP-2", "APP-1"])  # applications may call each other
    with pytest.raises(Conflict) as e:
        model.check_cycle("COMP-A", "component", "COMP-B", ["COMP-B", "COMP-A"])
    assert "COMP-A → COMP-B → COMP-A" in e.value.message
    model.check_cycle("COMP-A", "component", "COMP-B", None)


def test_application_status_follows_its_items() -> None:
    assert model.application_status(["pending", "pending"]) == "pending"
    assert model.application_status(["approved", "pending"]) == "partly_decided"
    assert model.application_status(["approved", "approved"]) == "approved"
    assert model.application_status(["rejected", "approved"]) == "partly_approved"
    assert model.application_status(["rejected"]) == "rejected"
    with pytest.raises(IllegalTransition, match="already approved"):
        model.check_item_decision(1, "X", "approved")
    with pytest.raises(ValidationError, match="only online"):
        model.check_appliable("X", "draft")


def test_monthly_availability() -> None:
    def at(m: int, d: int) -> datetime:
        return datetime(2026, m, d, tzinfo=UTC)

    out = model.monthly_availability([Probe(at(10, 1), True, 10.0), Probe(at(10, 2), False, None),
                                      Probe(at(10, 3), True, 20.0), Probe(at(10, 4), True, 30.0),
                                      Probe(at(11, 1), True, 5.0)])
    assert out == [{"month": "2026-10", "probes": 4, "availability": 75.0, "mean_latency_ms": 20.0},
                   {"month": "2026-11", "probes": 1, "availability": 100.0, "mean_latency_ms": 5.0}]


def test_twelve_own_components_with_unique_keys() -> None:
    keys = [c.key for c in model.OWN_COMPONENTS]
    assert len(keys) == 12 == len(set(keys))
    for c in model.OWN_COMPONENTS:
        attrs = {"key": c.key, **({"endpoint": c.endpoint} if c.endpoint else {})}
        model.validate_attributes("component", c.key, attrs)
