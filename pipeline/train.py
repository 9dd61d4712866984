"""DVC stage `train`: a placeholder until its issue lands (README: "Status of the stages")."""

from __future__ import annotations


def main(params_path: str = "params.yaml") -> None:
    from pipeline.params import load_params
    from pipeline.placeholder import write_marker

    params = load_params(params_path)
    write_marker("train", f"{params.paths.model_dir}/PLACEHOLDER.json", [params.paths.features])


if __name__ == "__main__":
    main()
