"""The contrast-pair audit can fail: every shipped pair is put to the real judge core over a scripted
model that says "yes" to everything, "no" to everything, or reads the reply. The checkers decide where
they exist, as for a run's replies, so the LLM-decided rows carry the scripted judge's errors in full."""

from __future__ import annotations

import json

import pytest

from attune.orchestrator.benchmark import contrast
from attune.orchestrator.benchmark.audit import contrast_rates, llm_at_chance
from attune.orchestrator.benchmark.judging import contrast_verdict
from attune.preferences.contrast import load_pairs
from attune.services.judge.core import JudgeService
from attune.services.judge.settings import JudgeSettings
from attune.v1 import common_pb2, model_pb2

FOLLOWED = {pair.follows for pair in load_pairs().values()}


class Scripted:
    """A model that answers every compliance question with ``says(reply)`` for each listed preference."""

    def __init__(self, says):
        self.says = says

    async def get_info(self, request=None):
        return model_pb2.ModelInfo(model="scripted", backend="test")

    async def chat(self, request):
        text = request.messages[-1].content
        reply = text.split("Reply:\n", 1)[1].split("\n\nPreferences:\n", 1)[0]
        ids = json.loads(request.json_schema)["properties"]["followed"]["required"]
        answer = {"followed": dict.fromkeys(ids, self.says(reply)), "reason": "scripted"}
        return model_pb2.ChatResponse(text=json.dumps(answer), usage=common_pb2.TokenUsage(prompt_tokens=1))


async def audit_with(says) -> dict:
    judge = JudgeService(JudgeSettings(retries=0), Scripted(says))
    await judge.start()
    cases = []
    for pair in contrast.chosen_pairs(None, seed=0):
        for kind in contrast.CONTRAST_KINDS:
            detail = await contrast.judge_pair(judge, pair, kind, common_pb2.RequestContext(method="audit"))
            cases.append(contrast_verdict(pair.preference_id, kind, detail))
    assert len(cases) == 2 * len(load_pairs())
    return contrast_rates(cases)


@pytest.mark.parametrize(("says", "wrong", "right"), [
    (lambda reply: True, "false_accept", "false_reject"),
    (lambda reply: False, "false_reject", "false_accept"),
], ids=["always-yes", "always-no"])
async def test_a_constant_judge_is_wrong_on_every_llm_decided_pair(says, wrong, right):
    rates = await audit_with(says)
    llm, checker = rates["llm"], rates["checker"]
    assert llm[wrong]["rate"] == 1.0 and llm[wrong]["n"] >= 60, "every LLM-decided reply it should doubt"
    assert llm[right]["rate"] == 0.0
    assert llm[wrong]["low"] > 0.9, "the interval excludes chance"
    assert not llm["discriminates"] and llm_at_chance(rates), "a constant judge cannot tell the replies apart"
    assert checker["false_accept"]["rate"] == 0.0 and checker["false_reject"]["rate"] == 0.0
    assert checker["discriminates"], "the checkers decide their pairs right whatever the LLM says"


async def test_a_judge_that_reads_the_reply_passes_the_audit():
    rates = await audit_with(lambda reply: reply.strip() in FOLLOWED)
    assert rates["llm"]["false_accept"]["rate"] == 0.0 and rates["llm"]["false_reject"]["rate"] == 0.0
    assert rates["llm"]["discriminates"] and not llm_at_chance(rates)


async def test_the_report_calls_compliance_unmeasured_when_the_llm_is_at_chance():
    from attune.orchestrator.report.collect import unmeasured

    blind = await audit_with(lambda reply: True)
    assert set(unmeasured({"contrast": blind})) == {"compliance"}
    assert "checked_compliance" in unmeasured({"contrast": blind})["compliance"]
    sighted = await audit_with(lambda reply: reply.strip() in FOLLOWED)
    assert unmeasured({"contrast": sighted}) == {}
    assert unmeasured({}) == {}, "a run judged before the contrast audit keeps its compliance"
