"""Input: patient graphs read from Turtle or JSON-LD, coded terms mapped to our concepts, and the
batching of several patients into one store. Never touches the network."""
from kg.input.batches import batches, node_owners, patients_in
from kg.input.reader import FORMATS, PatientData, evaluation_date, parse_patient, read_graph, read_patient, read_patients

__all__ = ["FORMATS", "PatientData", "batches", "evaluation_date", "node_owners", "parse_patient", "patients_in",
           "read_graph", "read_patient", "read_patients"]
