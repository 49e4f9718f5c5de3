"""The domain layer: error families, the catalogue, and input validation."""

from __future__ import annotations

import math

import pytest

from shared.domain.catalogue import DEFAULT_DOMAIN_ID, DOMAINS, find_domain
from shared.domain.enums import DomainType
from shared.domain.errors import BadRequest, Code, http_status
from shared.domain.validation import check_metadata, check_name, check_region, parse_guids


def test_status_follows_the_code_family() -> None:
    assert http_status(Code.BAD_REQUEST_IMAGE_FORMAT) == 400
    assert http_status(Code.UNAUTHORIZED) == 401
    assert http_status(Code.NOT_FOUND_PROJECT) == 404
    assert http_status(Code.UNSUPPORTED_MEDIA_TYPE) == 415
    assert http_status(Code.ERROR_UNKNOWN) == 500


def test_catalogue_has_the_real_ids_and_only_compact_domains_export() -> None:
    assert len(DOMAINS) == 17 and len({d.id for d in DOMAINS}) == 17
    assert DEFAULT_DOMAIN_ID == "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
    detector = find_domain("DA2E3A8A-40A5-4171-82F4-58522F70FBC1")
    assert detector is not None and detector.type == DomainType.OBJECT_DETECTION
    assert all(d.exportable == ("compact" in d.name) for d in DOMAINS)
    assert find_domain("00000000-0000-0000-0000-000000000000") is None


def test_ids_are_normalised_deduplicated_and_limited() -> None:
    upper = "6F1C2F4E-3B7A-4C1E-9A53-7F0E2D9B8C11"
    assert parse_guids([upper, upper.lower(), " "], "tag", limit=5) == [upper.lower()]
    with pytest.raises(BadRequest) as err:
        parse_guids(["nope"], "tag", limit=5)
    assert err.value.code is Code.BAD_REQUEST_INVALID_IDS
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(3)]
    with pytest.raises(BadRequest) as err:
        parse_guids(ids, "tag", limit=2)
    assert err.value.code is Code.BAD_REQUEST_EXCEEDED_BATCH_SIZE


def test_names_are_trimmed_and_must_be_printable() -> None:
    assert check_name("  Apples ", "tag", Code.BAD_REQUEST_TAG_NAME) == "Apples"
    for bad in ("", "   ", None, "a\nb", "x" * 257):
        with pytest.raises(BadRequest):
            check_name(bad, "tag", Code.BAD_REQUEST_TAG_NAME)


@pytest.mark.parametrize(
    "box",
    [
        (-0.1, 0, 0.5, 0.5),
        (0, 0, 0, 0.5),
        (0.6, 0, 0.5, 0.5),
        (0, 0.9, 0.5, 0.2),
        (math.nan, 0, 0.5, 0.5),
        (0, 0, math.inf, 0.5),
    ],
)
def test_regions_outside_the_image_or_not_finite_are_refused(box: tuple[float, float, float, float]) -> None:
    with pytest.raises(BadRequest) as err:
        check_region(*box)
    assert err.value.code is Code.BAD_REQUEST_IMAGE_REGIONS


def test_a_box_touching_the_edge_survives_float_rounding() -> None:
    left, top, width, height = check_region(0.1, 0.2, 0.9000000001, 0.8)
    assert left + width <= 1 and (top, height) == (0.2, 0.8)


def test_metadata_limits() -> None:
    assert check_metadata({"k": "v"}) == {"k": "v"}
    with pytest.raises(BadRequest) as err:
        check_metadata({str(i): "v" for i in range(11)})
    assert err.value.code is Code.BAD_REQUEST_IMAGE_METADATA_KEY
    with pytest.raises(BadRequest):
        check_metadata({"k" * 129: "v"})
    with pytest.raises(BadRequest) as err:
        check_metadata({"k": "v" * 257})
    assert err.value.code is Code.BAD_REQUEST_IMAGE_METADATA_VALUE
