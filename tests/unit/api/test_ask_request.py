"""POST /ask's body: `stream` is JSON true or false, nothing a lax parser would guess at."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.schemas import AskRequest


@pytest.mark.parametrize("value", ["true", "false"])
def test_stream_takes_json_booleans(value: str) -> None:
    body = AskRequest.model_validate_json(f'{{"question": "q", "stream": {value}}}')
    assert body.stream is (value == "true")


@pytest.mark.parametrize("value", ['"yes"', '"true"', '"off"', "1", "0", '"1"', "null"])
def test_stream_refuses_what_is_not_a_json_boolean(value: str) -> None:
    with pytest.raises(ValidationError, match="valid boolean"):
        AskRequest.model_validate_json(f'{{"question": "q", "stream": {value}}}')
