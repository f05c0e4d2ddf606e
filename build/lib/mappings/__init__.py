"""Mappings: declarative field maps (mappings/*.yml) turning source records into DCAT-AP dataset graphs."""

from mappings.engine import apply_mapping
from mappings.errors import InputTooLargeError, MappingError, MappingInputError
from mappings.model import MappingResult, Problem, SourceRecord
from mappings.readers import DEFAULT_MAX_BYTES, read_records
from mappings.spec import Mapping, available_mappings, load_mapping

__all__ = [
    "DEFAULT_MAX_BYTES", "InputTooLargeError", "Mapping", "MappingError", "MappingInputError",
    "MappingResult", "Problem", "SourceRecord", "apply_mapping", "available_mappings", "load_mapping",
    "read_records",
]
