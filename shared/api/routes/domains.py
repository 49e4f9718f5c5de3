"""Domains: the read-only catalogue of Custom Vision domain ids."""

from __future__ import annotations

from fastapi import APIRouter

from shared.api.wire.domains import DomainOut, domain_out
from shared.domain.catalogue import DOMAINS, find_domain
from shared.domain.errors import Code, NotFound

router = APIRouter(tags=["domains"])


@router.get("/domains", operation_id="GetDomains", response_model=list[DomainOut])
def get_domains() -> list[DomainOut]:
    return [domain_out(d) for d in DOMAINS]


@router.get("/domains/{domainId}", operation_id="GetDomain", response_model=DomainOut)
def get_domain(domainId: str) -> DomainOut:  # noqa: N803 - the wire name
    domain = find_domain(domainId)
    if domain is None:
        raise NotFound(f"Domain '{domainId}' was not found.", Code.NOT_FOUND_DOMAIN)
    return domain_out(domain)
