"""The modal questions the session asks: trust a certificate, give a password.

Each is a `CTkToplevel` over the chat window (customtkinter allows one `CTk`
per process, CustomTkinter #375) that grabs the keyboard and mouse until it
is answered. The words come from the session core; these classes only ask
and hand the answer back. A password goes from its masked field straight to
the callback: it is never shown, logged or kept by the window.
"""

from __future__ import annotations

import logging
import tkinter
import tkinter.font
from collections.abc import Callable
from typing import Any

import customtkinter as ctk

from clients.core import events as ev
from clients.core.formatting import LineKind
from clients.core.trust import is_fingerprint, normalize_fingerprint
from clients.gui.chatlog import LINE_COLOURS
from clients.gui.keys import bind_select_all
from protocol.constants import MAX_PASSWORD_CHARS

__all__ = ["MASK", "ModalDialog", "PasswordDialog", "TrustDialog"]

log = logging.getLogger(__name__)

MASK = "•"
"""What a password field shows for each character typed."""
DESTROY_DELAY_MS = 300
"""A clicked CTkButton schedules its own redraw 100 ms later (`_click_animation`);
destroying the dialog at once would leave that callback pointing at a deleted
widget, so a finished dialog is hidden at once and destroyed after this."""
WRAP = 440
_TUI_ANSWER_HINT = " Type yes or no."
"""The core's question ends with how to answer in a terminal; here buttons answer."""


class ModalDialog(ctk.CTkToplevel):  # type: ignore[misc]
    """A dialog over `master` that takes all input until it is answered.

    Escape and the window's close button call `cancel`; subclasses answer
    through `finish` first, so a dialog answers exactly once.
    """

    def __init__(self, master: Any, title: str) -> None:
        super().__init__(master)
        self.title(title)
        self.transient(master)
        self.resizable(False, False)
        self.answered = False
        self.protocol("WM_DELETE_WINDOW", self.cancel)
        # Bound on the toplevel, so it fires from whichever field has focus.
        self.bind("<Escape>", lambda _e: self.cancel())

    def cancel(self) -> None:
        """Escape, the close button, Cancel: subclasses answer "no"."""
        self.finish()

    def present(self, focus: Any) -> None:
        """Centre over the window, take the input, focus `focus`."""
        master = self.master
        master.update_idletasks()  # at start-up the window may not be placed yet
        self.update_idletasks()
        width, height = self.winfo_reqwidth(), self.winfo_reqheight()
        x = master.winfo_rootx() + max(0, (master.winfo_width() - width) // 2)
        y = master.winfo_rooty() + max(0, (master.winfo_height() - height) // 3)
        tkinter.Toplevel.wm_geometry(self, f"+{x}+{y}")
        self.grab()
        focus.focus_set()
        if master.focus_get() is not None:
            # The user is in our window: move the keyboard to the dialog even
            # without a window manager to do it (Xvfb, some tiling setups).
            focus.focus_force()

    def grab(self) -> None:
        """Route the application's input to this dialog (a local grab)."""
        try:
            self.grab_set()
        except tkinter.TclError as exc:  # another grab holds; still usable
            log.debug("could not grab input for the dialog: %s", exc)

    def finish(self) -> bool:
        """Close once: hide now, destroy a little later; False if already done."""
        if self.answered:
            return False
        self.answered = True
        try:
            self.grab_release()
            self.withdraw()
            self.master.after(DESTROY_DELAY_MS, self._destroy_quietly)
        except tkinter.TclError:  # the window is being torn down already
            pass
        return True

    def _destroy_quietly(self) -> None:
        try:
            self.destroy()
        except tkinter.TclError:
            pass

    def is_shown(self) -> bool:
        """True while the dialog is on screen, waiting for an answer."""
        return not self.answered and bool(self.winfo_exists())


def _wrapped(master: Any, text: str, **kwargs: Any) -> ctk.CTkLabel:
    return ctk.CTkLabel(
        master, text=text, anchor="w", justify="left", wraplength=WRAP, **kwargs
    )


def _fingerprint_rows(fingerprint: str) -> list[str]:
    """The fingerprint as two rows of 16 bytes: easier to compare by eye."""
    try:
        parts = normalize_fingerprint(fingerprint).split(":")
    except ValueError:
        return [fingerprint]
    return [":".join(parts[:16]), ":".join(parts[16:])]


class TrustDialog(ModalDialog):
    """Whether to trust a server's certificate: the core's question, two buttons.

    Args:
        master: the chat window.
        question: what the session asked.
        on_answer: called once with True (trust and connect) or False.
    """

    def __init__(
        self,
        master: Any,
        question: ev.TrustQuestion,
        on_answer: Callable[[bool], None],
    ) -> None:
        super().__init__(master, "Unknown server certificate")
        self.question = question
        self._on_answer = on_answer
        body = ctk.CTkFrame(self, fg_color="transparent")
        body.pack(padx=20, pady=(16, 8), fill="both", expand=True)
        ctk.CTkLabel(
            body,
            text="Is this the right server?",
            font=ctk.CTkFont(size=16, weight="bold"),
            anchor="w",
        ).pack(fill="x", pady=(0, 8))
        self.fingerprint_box: ctk.CTkTextbox | None = None
        text = question.text.removesuffix(_TUI_ANSWER_HINT).rstrip()
        paragraph: list[str] = []
        for line in text.splitlines():
            if is_fingerprint(line):
                self._paragraph(body, paragraph)
                paragraph = []
                self._fingerprint(body, line.strip())
            else:
                paragraph.append(line.strip())
        self._paragraph(body, paragraph)
        if self.fingerprint_box is None:  # the core's words changed: still show it
            self._fingerprint(body, question.fingerprint)
        buttons = ctk.CTkFrame(self, fg_color="transparent")
        buttons.pack(padx=20, pady=(4, 16), fill="x")
        self.trust_button = ctk.CTkButton(
            buttons, text="Trust and connect", width=150, command=self.trust
        )
        self.trust_button.pack(side="right")
        self.refuse_button = ctk.CTkButton(
            buttons,
            text="Don't connect",
            width=130,
            fg_color="gray50",
            command=self.cancel,
        )
        self.refuse_button.pack(side="right", padx=8)
        # No Enter binding: trusting a certificate should be a deliberate click.
        self.present(self.refuse_button)

    def _paragraph(self, master: Any, lines: list[str]) -> None:
        if lines:
            _wrapped(master, " ".join(lines)).pack(fill="x", pady=(0, 6))

    def _fingerprint(self, master: Any, fingerprint: str) -> None:
        rows = _fingerprint_rows(fingerprint)
        # The system's monospace family (TkFixedFont names one per platform).
        family = tkinter.font.nametofont("TkFixedFont", root=self).actual("family")
        font = ctk.CTkFont(family=family, size=13)
        box = ctk.CTkTextbox(
            master,
            height=len(rows) * int(font.metrics("linespace")) + 16,
            width=WRAP,
            wrap="none",
            font=font,
            activate_scrollbars=False,
        )
        box.insert("1.0", "\n".join(rows))
        box.configure(state="disabled")  # read-only, still selectable
        bind_select_all(box)
        box.pack(fill="x", pady=(0, 8))
        self.fingerprint_box = box

    def fingerprint_text(self) -> str:
        """The fingerprint as shown (for tests and screen readers)."""
        if self.fingerprint_box is None:
            return ""
        return str(self.fingerprint_box.get("1.0", "end-1c"))

    def text(self) -> str:
        """Every word the dialog shows, in order (for tests and screen readers)."""
        words: list[str] = []
        for child in self.winfo_children():
            for widget in (child, *child.winfo_children()):
                if isinstance(widget, ctk.CTkLabel):
                    words.append(str(widget.cget("text")))
                elif widget is self.fingerprint_box:
                    words.append(self.fingerprint_text())
        return "\n".join(words)

    def trust(self) -> None:
        if self.finish():
            self._on_answer(True)

    def cancel(self) -> None:
        if self.finish():
            self._on_answer(False)


class PasswordDialog(ModalDialog):
    """A masked password field (two for a new password), OK and Cancel.

    Args:
        master: the chat window.
        request: what the session asked.
        on_answer: called once with (password, repeat); (None, None) on
            cancel; repeat is None unless `request.confirm`.
    """

    def __init__(
        self,
        master: Any,
        request: ev.PasswordRequest,
        on_answer: Callable[[str | None, str | None], None],
    ) -> None:
        super().__init__(master, "New password" if request.confirm else "Password")
        self.request = request
        self._on_answer = on_answer
        body = ctk.CTkFrame(self, fg_color="transparent")
        body.pack(padx=20, pady=(16, 4), fill="both", expand=True)
        self.prompt = _wrapped(body, request.prompt)
        self.prompt.grid(row=0, column=0, columnspan=2, sticky="w", pady=(0, 10))
        ctk.CTkLabel(body, text="Password", anchor="w").grid(
            row=1, column=0, sticky="w", padx=(0, 10)
        )
        self.entry = ctk.CTkEntry(body, width=260, show=MASK)
        self.entry.grid(row=1, column=1, sticky="w")
        self.repeat: ctk.CTkEntry | None = None
        if request.confirm:
            ctk.CTkLabel(body, text="Repeat", anchor="w").grid(
                row=2, column=0, sticky="w", padx=(0, 10), pady=(6, 0)
            )
            self.repeat = ctk.CTkEntry(body, width=260, show=MASK)
            self.repeat.grid(row=2, column=1, sticky="w", pady=(6, 0))
        self.error = ctk.CTkLabel(
            body,
            text="",
            text_color=LINE_COLOURS[LineKind.ERROR],
            anchor="w",
            justify="left",
            wraplength=WRAP,
        )
        self.error.grid(row=3, column=0, columnspan=2, sticky="w", pady=(4, 0))
        self.error.grid_remove()  # shown with a problem
        buttons = ctk.CTkFrame(self, fg_color="transparent")
        buttons.pack(padx=20, pady=(4, 16), fill="x")
        self.ok_button = ctk.CTkButton(buttons, text="OK", width=100, command=self.ok)
        self.ok_button.pack(side="right")
        self.cancel_button = ctk.CTkButton(
            buttons, text="Cancel", width=100, fg_color="gray50", command=self.cancel
        )
        self.cancel_button.pack(side="right", padx=8)
        for entry, on_enter in ((self.entry, self._next), (self.repeat, self.ok)):
            if entry is not None:
                bind_select_all(entry)
                for key in ("<Return>", "<KP_Enter>"):
                    entry.bind(key, lambda _e, act=on_enter: act() or "break")
        self.present(self.entry)

    def _next(self) -> None:
        """Enter in the first field: on to an empty second one, else OK."""
        if self.repeat is not None and not self.repeat.get():
            self.repeat.focus_set()
        else:
            self.ok()

    def _problem(self, password: str) -> str:
        if not password:
            return "enter the password"
        if len(password) > MAX_PASSWORD_CHARS:
            return f"a password has at most {MAX_PASSWORD_CHARS} characters"
        return ""

    def ok(self) -> None:
        """OK and Enter: hand the password over (the session judges it)."""
        password = self.entry.get()
        problem = self._problem(password)
        if problem:
            self.error.configure(text=f"⚠ {problem}")
            self.error.grid()
            self.entry.focus_set()
            return
        repeat = self.repeat.get() if self.repeat is not None else None
        self._forget()
        if self.finish():
            self._on_answer(password, repeat)

    def cancel(self) -> None:
        self._forget()
        if self.finish():
            self._on_answer(None, None)

    def _forget(self) -> None:
        """Empty the fields: the text leaves the widgets as soon as it is read."""
        for entry in (self.entry, self.repeat):
            if entry is not None:
                entry.delete(0, "end")
