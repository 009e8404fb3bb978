"""Governance: personal data (PII) scan and masking, model card, datasheet, compliance evidence map and the
ML Test Score (Breck et al. 2017) computed from an evidence pack's own checks."""
