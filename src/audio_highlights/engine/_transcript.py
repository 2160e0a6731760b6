"""Build the API's Transcript JSON from a stored job."""

from __future__ import annotations

from typing import Any

from ._store import Job

__all__ = ["blank_params", "blank_result", "list_item", "transcript_json"]

# Keys the spec requires or the official SDKs read, with the values a job that
# did not ask for those features has.
_DEFAULTS: dict[str, Any] = {
    "speech_model": None,
    "speech_model_used": None,
    "language_model": "assemblyai_default",
    "acoustic_model": "assemblyai_default",
    "language_code": "en_us",
    "language_detection": False,
    "language_confidence_threshold": None,
    "language_confidence": None,
    "text": None,
    "words": None,
    "utterances": None,
    "confidence": None,
    "audio_duration": None,
    "punctuate": True,
    "format_text": True,
    "disfluencies": False,
    "multichannel": None,
    "webhook_url": None,
    "webhook_status_code": None,
    "webhook_auth": False,
    "webhook_auth_header_name": None,
    "auto_highlights": False,
    "auto_highlights_result": None,
    "audio_start_from": None,
    "audio_end_at": None,
    "filter_profanity": False,
    "redact_pii": False,
    "redact_pii_audio": False,
    "redact_pii_audio_quality": None,
    "redact_pii_policies": None,
    "redact_pii_sub": None,
    "speaker_labels": False,
    "speakers_expected": None,
    "content_safety": False,
    "content_safety_labels": None,
    "iab_categories": False,
    "iab_categories_result": None,
    "custom_spelling": None,
    "auto_chapters": False,
    "chapters": None,
    "summarization": False,
    "summary_type": None,
    "summary_model": None,
    "summary": None,
    "custom_topics": False,
    "topics": [],
    "sentiment_analysis": False,
    "sentiment_analysis_results": None,
    "entity_detection": False,
    "entities": None,
    "speech_threshold": None,
    "throttled": None,
    "word_boost": [],
    "boost_param": None,
    "keyterms_prompt": None,
    "prompt": None,
    "temperature": None,
    "remove_audio_tags": None,
    "language_detection_options": None,
    # Engine additions: request fields it did not know, and notes such as a
    # feature omitted for the detected language. Never silent.
    "ignored_fields": [],
    "warnings": [],
}

# Request parameters echoed back into the transcript.
_ECHOED = (
    "speech_models",
    "speech_model",
    "language_code",
    "language_detection",
    "language_confidence_threshold",
    "language_detection_options",
    "punctuate",
    "format_text",
    "disfluencies",
    "filter_profanity",
    "custom_spelling",
    "word_boost",
    "boost_param",
    "keyterms_prompt",
    "prompt",
    "temperature",
    "remove_audio_tags",
    "audio_start_from",
    "audio_end_at",
    "auto_highlights",
    "speaker_labels",
    "speakers_expected",
    "webhook_url",
    "webhook_auth_header_name",
    "speech_threshold",
)


def transcript_json(job: Job) -> dict[str, Any]:
    """The full Transcript object for ``job``."""
    out: dict[str, Any] = dict(_DEFAULTS)
    for key in _ECHOED:
        if job.params.get(key) is not None:
            out[key] = job.params[key]
    out["webhook_auth"] = bool(job.params.get("webhook_auth_header_name"))
    out["id"] = job.id
    out["status"] = job.status
    out["audio_url"] = job.audio_url
    out["created"] = job.created
    out["completed"] = job.completed
    out["error"] = job.error
    out["ignored_fields"] = list(job.params.get("_ignored_fields", []))
    request_warnings = list(job.params.get("_warnings", []))
    if job.result:
        out.update(job.result)
    out["warnings"] = request_warnings + list((job.result or {}).get("warnings", []))
    return out


def list_item(job: Job, base_url: str) -> dict[str, Any]:
    """The TranscriptListItem for ``job``."""
    return {
        "id": job.id,
        "resource_url": f"{base_url}/v2/transcript/{job.id}",
        "status": job.status,
        "created": job.created,
        "completed": job.completed,
        "audio_url": job.audio_url,
        "error": job.error,
    }


def blank_result(job: Job) -> dict[str, Any]:
    """Result fields of a deleted transcript: content gone, metadata kept."""
    blanked: dict[str, Any] = dict(job.result or {})
    blanked.update(
        {
            "text": "Deleted by user.",
            "words": None,
            "utterances": None,
            "auto_highlights_result": None,
            "webhook_url": "http://deleted_by_user",
        }
    )
    return blanked


# Request fields that hold where the audio is, where to call back with which
# secret, or words from the recording: a deleted transcript keeps none of them.
_PRIVATE_PARAMS = (
    "_upload",
    "audio_url",
    "custom_spelling",
    "keyterms_prompt",
    "prompt",
    "webhook_auth_header_value",
    "word_boost",
)


def blank_params(job: Job) -> dict[str, Any]:
    """The stored request of a deleted transcript: secrets, audio and words removed."""
    params = {k: v for k, v in job.params.items() if k not in _PRIVATE_PARAMS}
    if params.get("webhook_url"):
        params["webhook_url"] = "http://deleted_by_user"
    return params
