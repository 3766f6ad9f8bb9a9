"""Every narration message a component can emit has its Simplified Chinese translation."""

from __future__ import annotations

from django.utils import translation

from web import narration


def test_every_narration_template_is_translated_to_zh_hans() -> None:
    templates = narration.templates()
    assert len(templates) > 100
    with translation.override("zh-hans"):
        missing = sorted(key for key, text in templates.items() if translation.gettext(text) == text)
    assert missing == []
