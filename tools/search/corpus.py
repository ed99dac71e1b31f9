"""The policy and procedure documents shipped with the tools, cut into one passage per `##` section."""

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

DOCUMENTS_PACKAGE = "tools.search"
DOCUMENTS_FOLDER = "documents"
INTRO = "Overview"


@dataclass(frozen=True)
class Chunk:
    """One section of one document; `embed_text` keeps the document title and the heading with the body."""

    doc: str
    title: str
    section: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.doc}#{_slug(self.section)}"

    @property
    def embed_text(self) -> str:
        return f"{self.title}: {self.section}\n\n{self.text}"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.embed_text.encode()).hexdigest()[:16]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "intro"


def split_markdown(doc: str, markdown: str) -> list[Chunk]:
    """A `# Title` document as chunks: the text before the first `##` (as "Overview"), then each section."""
    title = doc
    section, lines = INTRO, list[str]()
    chunks: list[Chunk] = []
    for line in markdown.splitlines():
        if line.startswith("# ") and title == doc:
            title = line[2:].strip()
        elif line.startswith("## "):
            chunks.append(Chunk(doc, title, section, "\n".join(lines).strip()))
            section, lines = line[3:].strip(), []
        else:
            lines.append(line)
    chunks.append(Chunk(doc, title, section, "\n".join(lines).strip()))
    return [c for c in chunks if c.text]


def load_chunks(folder: Path | None = None) -> list[Chunk]:
    """Every passage of the `*.md` documents in `folder` (default: the packaged documents), by file name."""
    if folder is not None:
        files = [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.md"))]
    else:
        root = resources.files(DOCUMENTS_PACKAGE).joinpath(DOCUMENTS_FOLDER)
        found = sorted((f for f in root.iterdir() if f.name.endswith(".md")), key=lambda f: f.name)
        files = [(f.name.removesuffix(".md"), f.read_text(encoding="utf-8")) for f in found]
    return [chunk for doc, text in files for chunk in split_markdown(doc, text)]
