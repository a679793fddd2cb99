"""Keep a PMML document's inputs equal to the source model's.

sklearn2pmml leaves out of the data dictionary and the mining schema every feature the
model does not use (zero coefficients of sparse linear models, features a tree never
splits on, a constant model's features). The artifact would then refuse the model's
own inputs. The missing fields are put back: declared in the data dictionary and in
the top-level model's mining schema as active fields, which the evaluator reads and
the model ignores. Nothing else in the document changes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - our own converter's output, not user XML
from pathlib import Path

__all__ = ["keep_every_field"]

_MODELS = (
    "AnomalyDetectionModel",
    "AssociationModel",
    "BayesianNetworkModel",
    "BaselineModel",
    "ClusteringModel",
    "GaussianProcessModel",
    "GeneralRegressionModel",
    "MiningModel",
    "NaiveBayesModel",
    "NearestNeighborModel",
    "NeuralNetwork",
    "RegressionModel",
    "RuleSetModel",
    "Scorecard",
    "SequenceModel",
    "SupportVectorMachineModel",
    "TextModel",
    "TimeSeriesModel",
    "TreeModel",
)


def keep_every_field(path: Path, fields: list[str], types: dict[str, str]) -> list[str]:
    """Add the ``fields`` missing from the PMML at ``path``; returns the ones added."""
    tree = ET.parse(path)  # noqa: S314 - written by sklearn2pmml in this job
    root = tree.getroot()
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    dictionary = root.find(f"{ns}DataDictionary")
    model = next((el for el in root if el.tag.removeprefix(ns) in _MODELS), None)
    schema = model.find(f"{ns}MiningSchema") if model is not None else None
    if dictionary is None or schema is None:
        return []
    declared = {el.get("name") for el in dictionary.findall(f"{ns}DataField")}
    mined = {el.get("name") for el in schema.findall(f"{ns}MiningField")}
    added = [f for f in fields if f not in declared or f not in mined]
    if not added:
        return []
    for name in added:
        if name not in declared:
            dtype = types.get(name, "double")
            optype = "categorical" if dtype == "string" else "continuous"
            ET.SubElement(
                dictionary, f"{ns}DataField", {"name": name, "optype": optype, "dataType": dtype}
            )
        if name not in mined:
            ET.SubElement(schema, f"{ns}MiningField", {"name": name})
    if "numberOfFields" in dictionary.attrib:
        count = len(dictionary.findall(f"{ns}DataField"))
        dictionary.set("numberOfFields", str(count))
    if ns:
        ET.register_namespace("", ns[1:-1])
    tree.write(path, encoding="UTF-8", xml_declaration=True)
    return added
