"""Fixtures of the service tests (the builders they use live in :mod:`tests.unit.services.fakes`)."""

from __future__ import annotations

import pytest

from tests.unit.services.fakes import Trained, World, trained_classifier, trained_detector


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def classifier(world: World) -> Trained:
    """A compact multiclass "red"/"green" project with a completed iteration (a real tiny model)."""
    return trained_classifier(world)


@pytest.fixture
def detector(world: World) -> Trained:
    """A compact detection "fork"/"knife" project with a completed iteration (fixed boxes)."""
    return trained_detector(world)
