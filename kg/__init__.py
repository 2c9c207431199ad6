"""acr-kg: the ACR Appropriateness Criteria as linked data."""
