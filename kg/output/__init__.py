"""Output: every writer of the toolkit, chosen by format name from one dispatch table per kind of answer,
so the CLI never branches on formats."""
from kg.output.data import (answer_line, recommendations_json, recommendations_jsonl, recommendations_turtle, to_json,
                            validations_json, validations_turtle)
from kg.output.rows import ROWS_WRITERS, triples_turtle
from kg.output.text import recommendations_text, validation_text, validations_text

__all__ = ["RECOMMENDATION_WRITERS", "answer_line", "ROWS_WRITERS", "STREAMING", "TRIPLES_WRITERS", "VALIDATION_WRITERS", "to_json", "validation_text",
           "triples_turtle"]

# `acr-kg validate`: the validation of each patient given (a FHIR record may hold several).
VALIDATION_WRITERS = {"text": validations_text, "json": validations_json, "turtle": validations_turtle}
# `acr-kg recommend`: the answers for the patients given, in input order.
RECOMMENDATION_WRITERS = {"text": recommendations_text, "json": recommendations_json,
                          "jsonl": recommendations_jsonl, "turtle": recommendations_turtle}
# Formats whose answers can be written one patient at a time, as they are computed.
STREAMING = {"text", "jsonl"}
# `acr-kg query` on a CONSTRUCT query.
TRIPLES_WRITERS = {"turtle": triples_turtle}
