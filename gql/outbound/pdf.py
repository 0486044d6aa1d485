"""Printable login instructions: one page with a student's access code.

fpdf2's built-in fonts only cover Latin-1, and names do not: a Unicode
TrueType font (DejaVu Sans, where the system has it) is embedded when found.
Without one, characters Latin-1 lacks are replaced, and a line is logged.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

log = logging.getLogger("accessgraph.pdf")

# Where Debian/Ubuntu (fonts-dejavu-core), Fedora and Alpine put DejaVu Sans.
FONT_DIRECTORIES = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu-sans-fonts"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)


@dataclass(frozen=True, slots=True)
class LoginInstructions:
    school_name: str
    student_name: str
    code: str  # as shown: grouped for reading aloud
    sign_up_url: str
    generated_on: dt.date


def _unicode_font() -> tuple[Path, Path] | None:
    for directory in FONT_DIRECTORIES:
        regular, bold = directory / "DejaVuSans.ttf", directory / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


class _Page(FPDF):
    def __init__(self) -> None:
        super().__init__(format="A4")
        font = _unicode_font()
        if font is not None:
            self.add_font("Body", "", font[0])
            self.add_font("Body", "B", font[1])
            self.body_font = "Body"
            self.has_unicode = True
        else:
            log.warning("no Unicode font found; login instructions use Latin-1 only")
            self.body_font = "Helvetica"
            self.has_unicode = False

    def text_of(self, value: str) -> str:
        if self.has_unicode:
            return value
        return value.encode("latin-1", "replace").decode("latin-1")

    def paragraph(self, value: str, *, size: float, bold: bool = False, gap: float = 2) -> None:
        self.set_font(self.body_font, "B" if bold else "", size)
        self.multi_cell(
            0, size * 0.5, self.text_of(value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
        self.ln(gap)


def login_instructions_pdf(instructions: LoginInstructions) -> bytes:
    page = _Page()
    page.set_title("Parent portal login instructions")
    page.set_creator("Access Graph")
    page.set_margins(20, 20, 20)
    page.add_page()
    page.paragraph(instructions.school_name, size=12, gap=6)
    page.paragraph("Parent portal: how to sign up", size=20, bold=True, gap=4)
    page.paragraph(f"Access code for {instructions.student_name}", size=13, gap=6)

    page.set_font("Courier", "B", 28)
    page.set_fill_color(238, 238, 238)
    page.cell(0, 18, instructions.code, align="C", fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    page.ln(8)

    steps = [
        f"Go to {instructions.sign_up_url} and create an account with your email address "
        "and a password, or with Google or Microsoft. If you already have an account, "
        "sign in.",
        "Choose 'Add a student' and type the access code above. Capital letters and the "
        "dashes do not matter.",
        f"You can now see {instructions.student_name}'s information. One account can hold "
        "several students: add each with its own code.",
    ]
    for number, step in enumerate(steps, start=1):
        page.paragraph(f"{number}. {step}", size=11, gap=3)
    page.ln(4)
    page.paragraph(
        "Keep this code private. Anyone who has it can pair an account with this student "
        "until the school resets it. If it is lost or shared, ask the school for a new one.",
        size=10,
        bold=True,
        gap=6,
    )
    page.paragraph(f"Printed on {instructions.generated_on:%d %B %Y}.", size=9)
    return bytes(page.output())
