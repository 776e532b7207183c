"""Evaluation: faithfulness, top-r removal, recovery, and the side-by-side benchmark of methods."""
