"""Reason codes of ``optex devnet`` (8100-8199)."""

from __future__ import annotations

from optex.core import ReasonCode, register_reasons


class DevnetReason(ReasonCode):
    """Why a devnet could not start or keep running."""

    SERVICE_FAILED = 8100, "a devnet service exited or did not become ready"
    INVALID_DEVNET_CONFIG = 8101, "the devnet's settings are out of range"
    HOME_MISMATCH = 8102, "the devnet home was written with other settings"


register_reasons(DevnetReason, range(8100, 8200))
