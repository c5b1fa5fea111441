"""Round trips: parse(format(d)) == d for generated valid definitions."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from tests.unit.netxml_strategies import definitions
from vnetd.model import NetworkDefinition
from vnetd.netxml import format_network, parse_network
from vnetd.validate import validate_definition


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definitions())
def test_parse_format_round_trip(definition: NetworkDefinition) -> None:
    validate_definition(definition)
    text = format_network(definition)
    assert parse_network(text) == definition
    # Formatting is a fixed point too.
    assert format_network(parse_network(text)) == text


@settings(max_examples=100, deadline=None)
@given(definitions())
def test_self_closing_form_parses_the_same(definition: NetworkDefinition) -> None:
    assert parse_network(format_network(definition, self_closing_empty_ip=True)) == definition
