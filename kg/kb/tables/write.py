"""Our model in triples, from an assembly of tables: what is new, each fact with its source.

Labels of panels, topics, variants and procedures are the table's text (the ACR's words), attributed
by dcterms:source to the row they were read from; the row is a part of the table's source, which says
whose words they are. Ratings' labels and definitions are the project's template.
"""
from __future__ import annotations

from kg.kb.tables.assemble import Assembly, Rating, Table
from kg.kb.tables.catalogue import Catalogue
from kg.kb.tables.reader import Row
from kg.kb.tables.turtle import DCTERMS, PROV, SKOS, Graph, date, integer, plain, text
from kg.terms import ACR, OWL, RDF_TYPE, RDFS

A, LABEL, SOURCE = RDF_TYPE, RDFS + "label", DCTERMS + "source"
NAMED = OWL + "NamedIndividual"
RIGHTS = ("The ratings, variant wording, topic titles and procedure names in this table are published by the "
          "American College of Radiology (ACR Appropriateness Criteria), copyright ACR. The ACR permits their use "
          "for research, scientific and/or informational purposes; redistribution needs its permission.")


def _panel_phrase(labels: list[str]) -> str:
    phrase = " and ".join(label.lower() for label in labels)
    return f"{phrase} panel " if phrase and not phrase.endswith("panel") else (f"{phrase} " if phrase else "")


class Writer:
    def __init__(self, assembly: Assembly, catalogue: Catalogue):
        self.assembly = assembly
        self.catalogue = catalogue
        self.graph = Graph()
        self._rows: dict[str, tuple[Table, Row]] = {}
        self._panel_labels = {p.iri: p.label for p in assembly.panels.values()} | catalogue.panel_labels

    def sources(self, table: Table, row: Row) -> tuple[str, ...]:
        if not table.curated:
            self._rows.setdefault(table.row_source(row), (table, row))
        return table.sources(row)

    def build(self) -> Graph:
        g, out = self.graph, self.assembly
        for panel in out.panels.values():
            if not panel.known:
                g.add(panel.iri, A, ACR + "Panel", NAMED)
                g.add(panel.iri, LABEL, text(panel.label))
                g.add(panel.iri, SOURCE, *self.sources(panel.table, panel.first))
        for topic in out.topics.values():
            if not topic.known:
                g.add(topic.iri, A, ACR + "Topic", NAMED)
                if topic.title:
                    g.add(topic.iri, LABEL, text(topic.title))
                if topic.topic_id is not None:
                    g.add(topic.iri, ACR + "topicId", integer(topic.topic_id))
            g.add(topic.iri, ACR + "inPanel", *topic.new_panels)
            if not topic.known:
                g.add(topic.iri, SOURCE, *self.sources(topic.table, topic.first))
        for revision in out.revisions.values():
            if not revision.known:
                g.add(revision.iri, A, ACR + "TopicRevision", NAMED)
                g.add(revision.iri, LABEL, text(revision.label))
                g.add(revision.iri, ACR + "ofTopic", revision.topic.iri)
                g.add(revision.iri, ACR + "revisionLabel",
                      plain(revision.edition.isoformat() if revision.edition else "undated"))
                g.add(revision.iri, SOURCE, *self.sources(revision.table, revision.first))
        for variant in out.variants.values():
            if not variant.known:
                g.add(variant.iri, A, ACR + "Variant", NAMED)
                g.add(variant.iri, LABEL, text(variant.text or f"Variant {variant.number}"))
                g.add(variant.iri, ACR + "variantNumber", integer(variant.number))
                g.add(variant.iri, ACR + "ofTopic", variant.topic.iri)
                g.add(variant.iri, ACR + "fromRevision", variant.revision.iri)
                g.add(variant.iri, ACR + "applicability", ACR + "NotMachineCheckable")
                g.add(variant.iri, SOURCE, *self.sources(variant.table, variant.first))
        for procedure in out.procedures.values():
            if not procedure.known:
                g.add(procedure.iri, A, ACR + "ImagingProcedure", NAMED)
                g.add(procedure.iri, LABEL, text(procedure.label))
                g.add(procedure.iri, SOURCE, *self.sources(procedure.table, procedure.first))
        for name in out.names.values():
            g.add(name.procedure.iri, ACR + "hasName", name.iri)
            g.add(name.iri, A, ACR + "ProcedureName", NAMED)
            g.add(name.iri, LABEL, text(f"name '{name.text}'"))
            g.add(name.iri, ACR + "nameText", plain(name.text))
            g.add(name.iri, ACR + "fromRevision", *(r.iri for r in name.revisions))
            g.add(name.iri, SOURCE, *self.sources(name.procedure.table, name.procedure.first))
        for rating in out.ratings.values():
            self._rating(rating)
        for table in out.tables:
            if not table.curated:
                self._table(table)
        for iri, (table, row) in self._rows.items():
            # A row is a part of its table's source, not a term users see: no owl:NamedIndividual.
            g.add(iri, A, ACR + "Source")
            g.add(iri, DCTERMS + "title", text(f"{table.title}, {'sheet ' + row.sheet.name + ', ' if row.sheet.name else ''}"
                                                 f"row {row.number}"))
            g.add(iri, DCTERMS + "isPartOf", table.iri)
            g.add(iri, ACR + "sourceLocator", plain(f"{table.path.name}{f'[{row.sheet.name}]' if row.sheet.name else ''}"
                                                    f":{row.number}"))
        return g

    def _rating(self, rating: Rating) -> None:
        g, variant = self.graph, rating.variant
        topic = variant.topic
        category, median, soe, adult, peds = rating.values
        panels = _panel_phrase([self._panel_labels.get(p, p) for p in topic.panels])
        g.add(rating.iri, A, ACR + "AppropriatenessRating", NAMED)
        g.add(rating.iri, LABEL, text(f"{topic.topic_id or topic.title} V{variant.number}: {rating.procedure.label}"))
        g.add(rating.iri, SKOS + "definition", text(
            f"The {panels}rating of {rating.procedure.label} for variant {variant.number} of {variant.revision.label}."))
        g.add(rating.iri, ACR + "ratedVariant", variant.iri)
        g.add(rating.iri, ACR + "ratedProcedure", rating.procedure.iri)
        g.add(rating.iri, ACR + "category", category)
        g.add(rating.iri, ACR + "median", integer(median))
        g.add(rating.iri, ACR + "strengthOfEvidence", soe)
        g.add(rating.iri, ACR + "adultRRL", adult)
        g.add(rating.iri, ACR + "pediatricRRL", peds)
        g.add(rating.iri, ACR + "fromRevision", variant.revision.iri)
        g.add(rating.iri, SOURCE, *self.sources(rating.table, rating.row))
        g.add(rating.iri, PROV + "wasGeneratedBy", rating.table.activity)

    def _table(self, table: Table) -> None:
        g = self.graph
        g.add(table.iri, A, ACR + "Source", DCTERMS + "BibliographicResource", NAMED)
        g.add(table.iri, LABEL, text(f"rating table {table.path.name}"))
        g.add(table.iri, SKOS + "definition", text("A table of ACR Appropriateness Criteria ratings, read into the "
                                                   "knowledge base by acr-kg import."))
        g.add(table.iri, DCTERMS + "title", text(table.title))
        edition = f", edition of {table.edition.isoformat()}" if table.edition else ""
        g.add(table.iri, DCTERMS + "bibliographicCitation",
              plain(f"American College of Radiology. ACR Appropriateness Criteria, rating tables{edition}."))
        g.add(table.iri, DCTERMS + "issued", date(table.edition) if table.edition else None)
        g.add(table.iri, DCTERMS + "identifier", plain(f"sha256:{table.digest}"))
        g.add(table.iri, ACR + "sourceLocator", plain(table.path.name))
        g.add(table.iri, DCTERMS + "rights", text(RIGHTS))
        g.add(table.activity, A, ACR + "CurationActivity", NAMED)
        g.add(table.activity, LABEL, text(f"import of the rating table {table.path.name}"))
        g.add(table.activity, SKOS + "definition", text("A run of acr-kg import that read a rating table and wrote "
                                                        "its ratings into the knowledge base."))
        g.add(table.activity, PROV + "used", table.iri)
