"""The design notes the code cites exist, and every section cited by name is in them."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITED = re.compile(r'docs/design\.md, "([^"]+)"')


def test_every_section_cited_from_code_recipes_and_readme_is_a_heading_of_docs_design():
    headings = {line.lstrip("#").strip() for line in (ROOT / "docs" / "design.md").read_text().splitlines()
                if line.startswith("#")}
    files = [*ROOT.glob("antibody_cli/**/*.py"), *ROOT.glob("backends/*.py"), *ROOT.glob("recipes/*.yaml"),
             *(p for p in ROOT.glob("tests/*.py") if p.name != "test_docs.py"), ROOT / "README.md"]
    cited = {(path.name, name) for path in files for name in CITED.findall(path.read_text(encoding="utf-8"))}
    assert len(cited) >= 8
    assert [c for c in cited if c[1] not in headings] == []
    assert not [path.name for path in files if "DESIGN.md" in path.read_text(encoding="utf-8")]
