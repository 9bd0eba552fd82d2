"""The flow language: recipe text to a checked, typed flow and its timeline.

yamlsource (YAML with positions and traps) -> schema (JSON Schema verdicts as
located sentences) -> loader (recipe checks, the typed `model`) -> variables ->
timing / plan. Nothing here touches the network.
"""
