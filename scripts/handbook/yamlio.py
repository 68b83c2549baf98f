"""YAML as the workflow reads it: a key given twice in one mapping is an error, not "the last one
wins" (PyYAML's default), so a run defined twice or a recipe key repeated is said, not silently
lost.
"""

from __future__ import annotations

import yaml

# The C loader when PyYAML was built with it (several times faster on the recipe files).
BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DuplicateKeyError(yaml.YAMLError):
    """A mapping that names one key twice."""


class StrictLoader(BASE_LOADER):
    """A safe loader that refuses duplicate keys."""


MERGE_TAG = "tag:yaml.org,2002:merge"


def construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:  # '<<: *anchor' keys may be overridden by the mapping's own
            continue
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise DuplicateKeyError(
                f"key '{key}' given twice (lines {seen[key] + 1} and "
                f"{key_node.start_mark.line + 1})"
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping_base(node, deep=deep)


StrictLoader.construct_mapping_base = BASE_LOADER.construct_mapping
StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)


def load(text: str):
    """Parse YAML safely; a duplicate key raises DuplicateKeyError (a yaml.YAMLError)."""
    return yaml.load(text, Loader=StrictLoader)
