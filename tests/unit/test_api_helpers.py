"""Pure helpers of the HTTP layer: path versions, query conventions, signed image URLs."""

from __future__ import annotations

import pytest

from shared.api.params import check_paging, metadata_filter, order_newest_first, split_list, tagging_status
from shared.api.paths import PREDICTION_PREFIX, TRAINING_PREFIX, canonical_path
from shared.api.uris import UriSigner
from shared.domain.errors import BadRequest
from shared.services.image_query import MetadataFilter


@pytest.mark.parametrize("version", ["v3.0", "v3.1", "v3.2", "v3.3", "v3.4-preview", "V3.3"])
@pytest.mark.parametrize("segment", ["training", "Training", "TRAINING"])
def test_every_training_version_and_casing_reaches_the_same_routes(version: str, segment: str) -> None:
    path, got = canonical_path(f"/customvision/{version}/{segment}/projects/abc")
    assert path == TRAINING_PREFIX + "/projects/abc"
    assert got == version.lower()


def test_prediction_accepts_only_its_versions() -> None:
    assert canonical_path("/customvision/v3.0/Prediction/p/classify")[0] == PREDICTION_PREFIX + "/p/classify"
    assert canonical_path("/customvision/v3.3/prediction/p/classify") == (
        "/customvision/v3.3/prediction/p/classify",
        None,
    )


def test_unknown_versions_and_other_paths_are_left_alone() -> None:
    assert canonical_path("/customvision/v2.0/training/projects")[1] is None
    assert canonical_path("/healthz") == ("/healthz", None)


def test_lists_are_comma_joined() -> None:
    assert split_list("a, b,,c") == ["a", "b", "c"]
    assert split_list(None) == []


def test_metadata_filter_understands_and_or_and_quotes() -> None:
    parsed = metadata_filter("(color eq 'red' or color eq 'it''s') and shelf eq '3'")
    assert parsed == MetadataFilter(((("color", "red"), ("color", "it's")), (("shelf", "3"),)))
    assert metadata_filter("  ") == MetadataFilter()


@pytest.mark.parametrize("bad", ["color ne 'red'", "color eq red", "startswith(color, 'r')"])
def test_unsupported_filters_are_a_clear_bad_request(bad: str) -> None:
    with pytest.raises(BadRequest, match="Unsupported \\$filter"):
        metadata_filter(bad)


def test_order_tagging_and_paging_are_checked() -> None:
    assert order_newest_first(None) and order_newest_first("newest") and not order_newest_first("Oldest")
    assert tagging_status("untagged") == "Untagged"
    assert check_paging(None, None) == (50, 0)
    for bad in (
        lambda: order_newest_first("Suggested"),
        lambda: tagging_status("Some"),
        lambda: check_paging(257, 0),
        lambda: check_paging(10, -1),
    ):
        with pytest.raises(BadRequest):
            bad()


def test_signed_image_links_verify_until_they_expire() -> None:
    signer = UriSigner("a-training-key")
    path = signer.image_path("p", "i", "thumbnail")
    url = signer.sign(path, now=1_000_000)
    query = dict(part.split("=") for part in url.split("?")[1].split("&"))
    assert signer.verify(path, query["expires"], query["sig"], now=1_000_000)
    assert not signer.verify(path, query["expires"], query["sig"], now=int(query["expires"]) + 1)
    assert not signer.verify(
        signer.image_path("p", "other", "thumbnail"), query["expires"], query["sig"], now=1_000_000
    )
    assert not UriSigner("another-key").verify(path, query["expires"], query["sig"], now=1_000_000)
    assert not signer.verify(path, "soon", query["sig"])
