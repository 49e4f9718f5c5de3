"""The Smart Labeler: suggested tags and boxes, their queries and counts, and region proposals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shared.api.deps import ServicesDep, UriForDep
from shared.api.params import split_list
from shared.api.wire.base import BoundingBoxOut
from shared.api.wire.suggestions import (
    ImageRegionProposalOut,
    RegionProposalOut,
    SuggestedTagAndRegionOut,
    SuggestedTagAndRegionQueryOut,
    SuggestedTagAndRegionQueryTokenIn,
    TagFilterIn,
    stored_suggestion_out,
    suggestion_out,
)
from shared.domain.errors import BadRequest, Code
from shared.services.suggestions import SuggestionQuery

router = APIRouter(tags=["suggestions"])
IterationId = Annotated[str | None, Query(alias="iterationId")]


@router.post(
    "/projects/{projectId}/tagsandregions/suggestions",
    operation_id="SuggestTagsAndRegions",
    response_model=list[SuggestedTagAndRegionOut],
)
def suggest_tags_and_regions(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    iteration_id: IterationId = None,
    image_ids: Annotated[str | None, Query(alias="imageIds")] = None,
) -> list[SuggestedTagAndRegionOut]:
    found = services.suggestions.suggest(projectId, iteration_id, split_list(image_ids))
    return [suggestion_out(s) for s in found]


@router.post(
    "/projects/{projectId}/images/suggested",
    operation_id="QuerySuggestedImages",
    response_model=SuggestedTagAndRegionQueryOut,
)
def query_suggested_images(
    services: ServicesDep,
    uri_for: UriForDep,
    projectId: str,  # noqa: N803
    token: SuggestedTagAndRegionQueryTokenIn,
    iteration_id: IterationId = None,
) -> SuggestedTagAndRegionQueryOut:
    sort = (token.sort_by or "UncertaintyDescending").lower()
    if sort not in ("uncertaintyascending", "uncertaintydescending"):
        raise BadRequest("sortBy must be UncertaintyAscending or UncertaintyDescending.", Code.BAD_REQUEST_INVALID)
    query = SuggestionQuery(
        tag_ids=tuple(token.tag_ids or ()),
        threshold=token.threshold or 0.0,
        session=token.session,
        continuation=token.continuation,
        max_count=token.max_count or 50,
        uncertainty_ascending=sort == "uncertaintyascending",
    )
    found, continuation = services.suggestions.query(projectId, iteration_id, query)
    domain = services.projects.get(projectId).domain_id
    return SuggestedTagAndRegionQueryOut(
        token=token.model_copy(update={"continuation": continuation}),
        results=[stored_suggestion_out(s, uri_for, domain) for s in found],
    )


@router.post(
    "/projects/{projectId}/images/suggested/count",
    operation_id="QuerySuggestedImageCount",
    response_model=dict[str, int],
)
def query_suggested_image_count(
    services: ServicesDep,
    projectId: str,  # noqa: N803
    body: TagFilterIn,
    iteration_id: IterationId = None,
) -> dict[str, int]:
    return services.suggestions.count(projectId, iteration_id, body.tag_ids or (), body.threshold or 0.0)


@router.post(
    "/projects/{projectId}/images/{imageId}/regionproposals",
    operation_id="GetImageRegionProposals",
    response_model=ImageRegionProposalOut,
)
def get_image_region_proposals(services: ServicesDep, projectId: str, imageId: str) -> ImageRegionProposalOut:  # noqa: N803
    proposals = services.suggestions.region_proposals(projectId, imageId)
    return ImageRegionProposalOut(
        project_id=projectId.lower(),
        image_id=imageId.lower(),
        proposals=[
            RegionProposalOut(
                confidence=p.confidence,
                bounding_box=BoundingBoxOut(left=p.box[0], top=p.box[1], width=p.box[2], height=p.box[3]),
            )
            for p in proposals
        ],
    )
