import json
import subprocess
import sys

from typer.testing import CliRunner

from flexcode_bench.cli import app


def test_ls_datasets_json_lists_the_catalogue_with_published_counts():
    result = CliRunner().invoke(app, ["ls", "datasets", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["amazon-beauty"]["expected"] == {"n_users": 22363, "n_items": 12101, "n_interactions": 198502}
    assert rows["ml-100k"]["sources"] == ["recbole"]


def test_ls_models_lists_the_registry_and_the_recbole_route_without_importing_them():
    result = CliRunner().invoke(app, ["ls", "models", "--json"])
    assert result.exit_code == 0, result.output
    names = [row["name"] for row in json.loads(result.stdout)]
    assert "sasrec" in names and "popularity" in names and "recbole:<Name>" in names


def test_help_and_ls_never_import_torch_or_pandas():
    code = (
        "import sys; from typer.testing import CliRunner; from flexcode_bench.cli import app;"
        "r1 = CliRunner().invoke(app, ['--help']); r2 = CliRunner().invoke(app, ['ls', 'datasets']); r3 = CliRunner().invoke(app, ['ls', 'models']);"
        "assert r1.exit_code == r2.exit_code == r3.exit_code == 0, (r1.output, r2.output, r3.output);"
        "heavy = [m for m in ('torch', 'pandas', 'sentence_transformers', 'recbole') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
