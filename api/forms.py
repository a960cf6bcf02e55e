from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

EXPIRY_CHOICES = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “nightly evaluation”.")
    expires_in = forms.ChoiceField(
        choices=EXPIRY_CHOICES,
        initial="90",
        required=False,
        label="Expires",
        help_text="A token that expires limits the harm if it leaks.",
    )

    def expires_at(self):
        days = self.cleaned_data.get("expires_in")
        return timezone.now() + timedelta(days=int(days)) if days else None


class WebhookForm(forms.Form):
    url = forms.URLField(
        max_length=500,
        label="URL",
        assume_scheme="https",
        help_text="Hone POSTs signed JSON here when a job changes state; it must be a public address.",
    )
    description = forms.CharField(max_length=200, required=False)
