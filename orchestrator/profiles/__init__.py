"""Simulated users: profiles of conditional preferences in conflict groups (docs/profiles.md)."""

from attune.orchestrator.profiles.generate import generate_from_schema
from attune.orchestrator.profiles.io import load_profiles, save_profiles
from attune.orchestrator.profiles.llm import generate_with_llm
from attune.preferences.check import check_profile
from attune.preferences.model import (
    DOMAINS,
    Preference,
    Profile,
    ProfileError,
    QueryContext,
    Trigger,
    applicable,
)
from attune.preferences.schema import Schema, load_schema

__all__ = [
    "DOMAINS", "Preference", "Profile", "ProfileError", "QueryContext", "Schema", "Trigger", "applicable",
    "check_profile", "generate_from_schema", "generate_with_llm", "load_profiles", "load_schema", "save_profiles",
]
