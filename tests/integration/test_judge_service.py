"""The judge with the real SmolLM2 and the real checkers, in process and over gRPC.

Scripted agent replies on real profile preferences (the shipped schema): a reply
that follows the applicable preferences scores higher compliance than one that
ignores them; one that follows the losing preference of a conflict is scored
unresolved; one that applies a preference whose condition does not hold is
over-personalization. Where a checker exists it decides, and the LLM's opinion is
kept beside it.
"""

from __future__ import annotations

import pytest

from attune.orchestrator.profiles import load_schema
from attune.services.common.errors import InvalidArgument
from attune.services.common.launch import serve_core
from attune.services.common.sampling import SEED_STEP, attempt_sampling
from attune.services.judge.client import JudgeClient
from attune.services.judge.core import PROMPT_HASH, JudgeService
from attune.services.judge.settings import JudgeSettings
from attune.services.model.client import chat_request
from attune.v1 import common_pb2, judge_pb2

NUMBERED = "format_structure.numbered_steps"
BULLETS = "format_structure.bullets_unordered"
TABLE = "format_structure.table_compare"
PLAIN = "notation.plain_math"

FOLLOWS = "1. Subtract 5 from both sides: 3x = 15.\n2. Divide both sides by 3: x = 5.\n3. Check: 3 * 5 + 5 = 20."
IGNORES = "We solve $3x + 5 = 20$ by subtracting five, giving $3x = 15$, so $x = 5$."
AS_BULLETS = "- Subtract 5 from both sides.\n- Divide by 3.\n- So x = 5."
AS_TABLE = "| step | result |\n| --- | --- |\n| subtract 5 | 3x = 15 |\n| divide by 3 | x = 5 |"
QUERY = "Solve 3x + 5 = 20."


def card(preference_id: str) -> common_pb2.PreferenceCard:
    pref = load_schema().preference(*preference_id.split("."))
    return common_pb2.PreferenceCard(card_id=preference_id, condition=pref.condition, preference=pref.preference,
                                     conflict_group=preference_id.split(".")[0])


@pytest.fixture(scope="module")
async def judge(model_core) -> JudgeService:
    # The decision comes first in the judge's JSON: 40 tokens hold it and the start of the reason.
    core = JudgeService(JudgeSettings(max_tokens=40, retries=1), model_core)
    await core.start()
    yield core
    await core.close()


async def compliance(judge, reply: str) -> judge_pb2.ComplianceVerdict:
    return await judge.judge_compliance(judge_pb2.ComplianceRequest(
        query=QUERY, reply=reply, preferences=[card(NUMBERED), card(PLAIN)]))


@pytest.fixture(scope="module")
async def good_and_bad(judge) -> tuple[judge_pb2.ComplianceVerdict, judge_pb2.ComplianceVerdict]:
    return await compliance(judge, FOLLOWS), await compliance(judge, IGNORES)


async def test_following_the_preferences_scores_higher_than_ignoring_them(good_and_bad):
    good, bad = good_and_bad
    assert good.compliance == 1.0 and bad.compliance == 0.0
    for verdict in (*good.verdicts, *bad.verdicts):
        assert verdict.decided_by == "checker" and verdict.reason
        assert verdict.llm in (judge_pb2.OPINION_YES, judge_pb2.OPINION_NO, judge_pb2.OPINION_UNJUDGED)
    assert good.judge.prompt_hash == PROMPT_HASH and good.judge.model and good.judge.backend == "transformers"
    assert good.usage.prompt_tokens > 0, "the LLM is asked too, for the agreement"


async def test_following_the_losing_preference_leaves_the_conflict_unresolved(judge):
    request = judge_pb2.ConflictRequest(query=QUERY, triggered=[card(NUMBERED), card(BULLETS)],
                                        expected_card_id=NUMBERED)
    request.reply = AS_BULLETS
    lost = await judge.judge_conflict(request)
    request.reply = FOLLOWS
    won = await judge.judge_conflict(request)
    assert (lost.passed, won.passed) == (False, True)
    assert lost.decided_by == won.decided_by == "checker"
    assert (lost.checker, won.checker) == (judge_pb2.OPINION_NO, judge_pb2.OPINION_YES)
    for verdict in (lost, won):  # the real model was asked in both orders of the rivals
        assert len(verdict.positions) == 2 and set(verdict.positions) <= {"A", "B", "both", "neither", ""}


async def test_applying_an_inapplicable_preference_is_over_personalization(judge):
    request = judge_pb2.OverPersonalizationRequest(query=QUERY, inapplicable=[card(TABLE)])
    request.reply = AS_TABLE
    over = await judge.judge_over_personalization(request)
    request.reply = FOLLOWS
    fine = await judge.judge_over_personalization(request)
    assert (over.passed, fine.passed) == (False, True)
    assert [p.card_id for p in over.preferences if p.satisfied] == [TABLE]


async def test_task_success_follows_the_datasets_check_and_asks_the_llm_only_without_one(judge):
    request = judge_pb2.TaskSuccessRequest(problem=QUERY, reference_answer="5", answer="x = 7",
                                           programmatic=judge_pb2.OPINION_NO)
    verdict = await judge.judge_task_success(request)
    assert not verdict.passed and verdict.decided_by == "checker" and verdict.checker == judge_pb2.OPINION_NO
    assert verdict.llm == judge_pb2.OPINION_UNSPECIFIED and verdict.usage.prompt_tokens == 0, "no LLM call"
    request.programmatic = judge_pb2.OPINION_UNSPECIFIED
    by_llm = await judge.judge_task_success(request)
    assert by_llm.decided_by == "llm" and by_llm.checker == judge_pb2.OPINION_UNSPECIFIED
    assert by_llm.unjudged or by_llm.llm in (judge_pb2.OPINION_YES, judge_pb2.OPINION_NO)
    assert by_llm.usage.prompt_tokens > 0


async def test_over_grpc_the_same_question_gets_the_same_verdict(judge, good_and_bad):
    server = await serve_core("judge", judge, token="judge-token")
    try:
        async with JudgeClient(server.address, token="judge-token") as client:
            again = await client.judge_compliance(judge_pb2.ComplianceRequest(
                query=QUERY, reply=FOLLOWS, preferences=[card(NUMBERED), card(PLAIN)]))
            assert again == good_and_bad[0], "deterministic, and the same in process and over gRPC"
            assert (await client.get_info()).prompt_hash == PROMPT_HASH
            with pytest.raises(InvalidArgument, match="preferences"):
                await client.judge_compliance(judge_pb2.ComplianceRequest(query=QUERY, reply=FOLLOWS))
            with pytest.raises(InvalidArgument, match="expected_card_id"):
                await client.judge_conflict(judge_pb2.ConflictRequest(
                    query=QUERY, reply=FOLLOWS, triggered=[card(NUMBERED)], expected_card_id=BULLETS))
    finally:
        await server.stop()


class Garbage:
    """A model whose every reply is not JSON: the judge must record unjudged, not a silent zero."""

    async def get_info(self, request=None):
        from attune.v1 import model_pb2

        return model_pb2.ModelInfo(model="garbage", backend="test")

    async def chat(self, request):
        from attune.v1 import model_pb2

        return model_pb2.ChatResponse(text="I think so", usage=common_pb2.TokenUsage(prompt_tokens=5))


async def test_output_that_never_parses_is_unjudged_with_the_reason():
    judge = JudgeService(JudgeSettings(retries=1), Garbage())
    await judge.start()
    verdict = await judge.judge_task_success(judge_pb2.TaskSuccessRequest(problem=QUERY, reference_answer="5",
                                                                          answer="5"))
    assert verdict.unjudged and verdict.llm == judge_pb2.OPINION_UNJUDGED
    assert "did not parse after 2 tries" in verdict.reason and verdict.usage.prompt_tokens == 10
    detail = (await judge.judge_compliance(judge_pb2.ComplianceRequest(
        query=QUERY, reply=FOLLOWS, preferences=[card("tone.casual_general")]))).verdicts[0]
    assert detail.unjudged and detail.decided_by == "llm"


@pytest.mark.parametrize("card_id", ["", "x" * 257, "line\nbreak"])
async def test_a_card_id_that_is_no_id_is_refused_before_the_model_is_asked(judge, card_id):
    """Ids become the answer schema's keys: fuzzed ids of 300,000 characters made schemas that took seconds to
    compile. An id is checked the way every service checks one (at most 256 characters, no control characters)."""
    bad = card(NUMBERED)
    bad.card_id = card_id
    with pytest.raises(InvalidArgument) as err:
        await judge.judge_compliance(judge_pb2.ComplianceRequest(query=QUERY, reply=FOLLOWS, preferences=[bad]))
    assert err.value.field == "preferences[0].card_id"


async def test_a_retry_samples_so_it_can_answer_differently(model_core):
    """The real backend: greedy decoding ignores the seed (a greedy retry repeats itself); retries sample."""
    def ask(temperature: float, seed: int):
        return model_core.chat(chat_request("Name one fruit and say why you like it.", max_tokens=24,
                                            temperature=temperature, seed=seed))

    greedy = [(await ask(0.0, seed)).text for seed in (0, SEED_STEP)]
    assert greedy[0] == greedy[1]
    retries = [(await ask(*attempt_sampling(n, 0.0, 0, 0.7))).text for n in (1, 2)]
    assert retries[0] != retries[1]
    assert (await ask(*attempt_sampling(1, 0.0, 0, 0.7))).text == retries[0]


class FirstReplyUnparsed:
    """The real model, except that its first reply to the judge is replaced by text that is not JSON."""

    def __init__(self, model):
        self.model, self.requests = model, []

    async def get_info(self, request=None):
        return await self.model.get_info(request)

    async def chat(self, request):
        self.requests.append(request)
        reply = await self.model.chat(request)
        if len(self.requests) == 1:
            reply.text = "I think so"
        return reply


async def test_the_judge_retries_by_sampling_and_the_real_models_retry_decides(model_core):
    model = FirstReplyUnparsed(model_core)
    judge = JudgeService(JudgeSettings(max_tokens=40, retries=1, seed=3), model)
    await judge.start()
    verdict = await judge.judge_task_success(judge_pb2.TaskSuccessRequest(problem=QUERY, reference_answer="5",
                                                                          answer="5"))
    first, retry = (r.sampling for r in model.requests)
    assert (first.temperature, first.seed) == (0.0, 3)
    assert retry.temperature == pytest.approx(0.7) and retry.seed == 3 + SEED_STEP
    assert not verdict.unjudged and verdict.llm in (judge_pb2.OPINION_YES, judge_pb2.OPINION_NO)
