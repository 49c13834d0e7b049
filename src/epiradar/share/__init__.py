"""Sharing: FHIR resources and bulk export, de-identified line lists, small-count suppression of
published aggregates, bulletins, and the resource view (capacity, where a patient should go).

Pure functions over DataFrames and typed records (no SQL, no web); ``epiradar.service`` joins
them with the store.
"""
