"""The import format: its JSON Schema is made from the models and kept in the repo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from app.imports.document import FORMAT, Document, document_schema

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "ledger-v1.schema.json"
DEMO = ROOT / "app" / "demo" / "common_prosperity.yaml"


def test_the_committed_schema_is_the_one_the_models_make() -> None:
    # given
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    # when
    made = document_schema()
    # then: regenerate with `pledge-ledger import --print-schema > docs/ledger-v1.schema.json`
    assert committed == made


def test_the_demo_file_is_a_document_of_the_format() -> None:
    # given
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    # when
    document = Document.model_validate(data)
    # then
    assert document.format == FORMAT
    assert len(document.initiatives) == 10
    assert str(document.program.pledged.amount) == "100000000000.00"


def test_an_amount_written_as_a_number_is_refused() -> None:
    # given: YAML reads 12.5 as a float
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["program"]["pledged"]["amount"] = 12.5
    # when
    with pytest.raises(ValidationError) as caught:
        Document.model_validate(data)
    # then
    (error,) = caught.value.errors()
    assert error["loc"] == ("program", "pledged", "amount")
    assert "quoted decimal string" in error["msg"]


def test_another_format_version_is_refused() -> None:
    # given
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["format"] = "pledge-ledger/0"
    # when
    with pytest.raises(ValidationError) as caught:
        Document.model_validate(data)
    # then
    assert caught.value.errors()[0]["loc"] == ("format",)
