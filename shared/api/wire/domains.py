"""Domains: the catalogue's entries as ``get_domains``/``get_domain`` answer them."""

from __future__ import annotations

from shared.api.wire.base import Wire
from shared.domain.catalogue import Domain

__all__ = ["DomainOut", "ModelInformationOut", "domain_out"]


class ModelInformationOut(Wire):
    estimated_model_size_in_megabytes: int
    description: str


class DomainOut(Wire):
    id: str
    name: str
    type: str
    exportable: bool
    enabled: bool
    exportable_platforms: list[str]
    model_information: ModelInformationOut


def domain_out(domain: Domain) -> DomainOut:
    return DomainOut(
        id=domain.id,
        name=domain.name,
        type=domain.type,
        exportable=domain.exportable,
        enabled=True,
        exportable_platforms=list(domain.exportable_platforms),
        model_information=ModelInformationOut(
            estimated_model_size_in_megabytes=domain.model_size_mb, description=domain.description
        ),
    )
