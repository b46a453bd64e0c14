"""The tolerant answer parser: every repair it makes is named, and garbage is an error."""

from __future__ import annotations

import pytest

from adekd.teacher.parsing import AnswerParseError, parse_answer
from adekd.teacher.schema import DrugAnswer, answer_schema, openai_strict_schema, quote_choices

AMOX = [DrugAnswer("amoxicillin", ("rash", "hepatitis"))]
CLEAN = '{"drugs": [{"drug": "amoxicillin", "adverse_events": ["rash", "hepatitis"]}]}'


@pytest.mark.parametrize(
    ("content", "repairs"),
    [
        (CLEAN, ()),
        (f"```json\n{CLEAN}\n```", ("code fence",)),
        (f"```\n{CLEAN}", ("code fence",)),
        (f"Here is the answer: {CLEAN}", ("leading text",)),
        (f"{CLEAN}\nI hope this helps! {{}}", ("trailing text",)),
        (
            "{'drugs': [{'drug': 'amoxicillin', 'adverse_events': ['rash', 'hepatitis']}]}",
            ("python literal",),
        ),
        (
            '{"drugs": [{"drug": "amoxicillin", "adverse_events": ["rash", "hepatitis"',
            ("truncated JSON closed",),
        ),
        (
            '{"drugs": [{"drug": "amoxicillin", "adverse_events": ["rash", "hepatitis", "hepatot',
            ("truncated JSON closed",),
        ),
        ('[{"drug": "amoxicillin", "adverse_events": ["rash", "hepatitis"]}]', ("bare list",)),
        ('{"drug": "amoxicillin", "adverse_events": ["rash", "hepatitis"]}', ("single drug object",)),
        ('{"drugs": [{"name": "amoxicillin", "ades": [{"text": "rash"}, "hepatitis"]}]}', ("renamed keys",)),
        (
            '{"drugs": [{"drug": "amoxicillin", "adverse_events": ["rash"]}, '
            '{"drug": "amoxicillin", "adverse_events": ["rash", "hepatitis"]}]}',
            (),
        ),
    ],
)
def test_answers_are_read_and_repairs_named(content, repairs):
    parsed = parse_answer(content)
    assert parsed.drugs == AMOX
    assert parsed.repairs == repairs
    assert parsed.status == ("ok" if not repairs else "repaired: " + ", ".join(repairs))


def test_a_half_written_quote_is_dropped_not_closed():
    parsed = parse_answer('{"drugs": [{"drug": "amoxicillin", "adverse_events": ["rash", "hepa')
    assert parsed.drugs == [DrugAnswer("amoxicillin", ("rash",))]


def test_empty_drug_list_and_blank_quotes():
    assert parse_answer('{"drugs": []}').drugs == []
    assert parse_answer('{"drugs": [{"drug": " ", "adverse_events": ["x"]}]}').drugs == []
    assert parse_answer('{"drugs": [{"drug": "a", "adverse_events": ["", " b "]}]}').drugs == [
        DrugAnswer("a", ("b",))
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty answer"),
        ("   \n", "empty answer"),
        (None, "empty answer"),
        ("I cannot help with that.", "no JSON object"),
        ('{"result": 3}', "no 'drugs' list"),
        ('{"drugs": [', "not JSON"),
    ],
)
def test_unusable_answers_raise(content, message):
    with pytest.raises(AnswerParseError, match=message):
        parse_answer(content)


def test_schema_bounds_quote_choices_and_openai_strict_variant():
    schema = answer_schema()
    drug = schema["properties"]["drugs"]
    assert drug["maxItems"] == 8 and drug["items"]["properties"]["adverse_events"]["maxItems"] == 8
    assert drug["items"]["properties"]["drug"]["maxLength"] == 200
    assert drug["items"]["additionalProperties"] is False and schema["required"] == ["drugs"]
    strict = openai_strict_schema(schema)
    assert "maxLength" not in str(strict) and "maxLength" in str(schema)  # the original is untouched
    choices = quote_choices("Low-dose methotrexate, then pancytopenia.")
    assert choices[:3] == ["Low-dose", "Low-dose methotrexate", "Low-dose methotrexate, then"]
    assert "pancytopenia" in choices and "pancytopenia." not in choices
    assert all(not c.endswith((",", ".")) for c in choices)
    assert max(len(c.split()) for c in quote_choices(" ".join(f"w{i}" for i in range(20)))) == 8
    constrained = answer_schema(choices)["properties"]["drugs"]["items"]["properties"]
    assert constrained["drug"]["enum"] == choices and "maxLength" not in constrained["drug"]
