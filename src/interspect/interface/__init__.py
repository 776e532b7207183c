"""The interface: ``explain`` (the main job), ``Explanation`` (its result), the report and the CLI."""
