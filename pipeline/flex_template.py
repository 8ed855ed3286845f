"""The Dataflow Flex Template's metadata: one parameter for each of the command's own options.

    python -m pipeline.flex_template > flex_template/metadata.json

A test checks that the file in the repository is what this prints, so the template never drifts
from the command line. Beam's options (temp_location, sdk_container_image, max_num_workers, ...)
are Dataflow's own template parameters and need no entry here.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pipeline.options import make_parser

NAME = "B4 image embeddings"
DESCRIPTION = (
    "Embeds every image matched by an input glob, manifest or TFRecord dataset with "
    "EfficientNet-B4 (or another TF-Hub image feature module) and writes the vectors to "
    "TFRecord and/or Parquet files and, optionally, a BigQuery table. With skip_existing=true a "
    "scheduled run embeds only new and changed images."
)


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        action
        for action in parser._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ]


def parameters() -> list[dict[str, Any]]:
    parser = make_parser()
    found = []
    for action in _options(parser):
        name = action.option_strings[0].removeprefix("--")
        # argparse's "%(default)s" in help texts, filled in as --help would.
        help_text = (action.help or "") % {"default": action.default}
        found.append(
            {
                "name": name,
                "label": name.replace("_", " ").capitalize(),
                "helpText": help_text,
                "isOptional": not action.required,
            }
        )
    return found


def metadata() -> dict[str, Any]:
    return {
        "name": NAME,
        "description": DESCRIPTION,
        "streaming": False,
        "parameters": parameters(),
    }


if __name__ == "__main__":
    json.dump(metadata(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
