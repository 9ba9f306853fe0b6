"""Every comparison results_reading.md states, as claims.py checks, in the reading's order.

Each claim quotes the reading's words (tests/trainer/test_claims.py checks that every quote is still in it and
that every claim holds on the committed reports). What a row's first seeds showed is read from those seeds'
cells (`only`). Not restated here: sizes against the issue's targets (the scorecard's lines), the causes the
reading gives (the docs/ pages it names measure them) and what other reports state in their own generated
words.
"""

from __future__ import annotations

from collections.abc import Callable

from mgqe.trainer.experiments.claims import (
    PAPER_STEM,
    AnyClaim,
    Claim,
    CurveClaim,
    GapClaim,
    SeedsClaim,
    Side,
)
from mgqe.trainer.experiments.suite import EXPERIMENTS, METHODS

T3, T4, T5, T6, FIG6 = "table3", "table4", "table5", "table6", "fig6"
POS, BETA2 = "table4-pos_init_std=0.01", "table4-adam_beta2=0.98"
NF, B8, E40 = "table3-neg_filter=false", "table3-batch_size=8192", "table3-epochs=40-neg_filter=false"
SHARED, UNSHARED_K, UNSHARED_D = "shared K=[256,64]", "unshared K=[256,64]", "unshared D=[64,32]"
# the rows of table4, each rerun under pos_init_std=0.01 (`FE pos-init 0.01` is that report's FE)
SASREC_ROWS = tuple(m for m in METHODS if m != "FE pos-init 0.01")


def _at(stem: str) -> Callable[[str, str], Side]:
    """stem -> (backbone, row) -> that report's row."""
    return lambda group, row: (stem, group, row)


t3, t6, nf, fig6, paper = _at(T3), _at(T6), _at(NF), _at(FIG6), _at(PAPER_STEM)


def t4(row: str) -> Side:
    return (T4, "sasrec", row)


def pos(row: str) -> Side:
    return (POS, "sasrec", row)


def _reach_fe(quote: str, side: Callable[[str], Side], rows: tuple[str, ...], seeds: int | None = None,
              ) -> list[AnyClaim]:
    return [Claim(quote, side(r), side("FE"), ("reaches",), (seeds, seeds)) for r in rows]


q_both = "(`MGQE ref-STE` seven seeds as FE, `MGQE +closs` five) both reach FE"
q_mgqe_nf = "on five seeds each both MGQE forms lie at FE's mean, well within FE's seed spread"
q_b8 = "At 8192 NeuMF's FE sat well below both the paper and the 1024 run"
q_sas = ("both straight-through forms of the stated config (`MGQE`, `MGQE ref-STE`) reach FE there, as do "
         "`MGQE +closs`, both forms of DPQ and both compact rows (five seeds each")
q_pos_fe = "over five seeds its FE lies above both our `FE` row and the paper's"
q_pos_reach = ("Both compact rows (larger than the target allows) reach FE there, as do `DPQ ref-STE` (like "
               "`DPQ`) and `LRF init 0.1`")
q_swap = "the MGQE and DPQ means swap order (each within the other's spread both times)"
q_small_ref = ("(`MGQE-small ref-STE`) falls below FE by more than either row's spread, as it does with "
               "torch's start")
q_rerun = "With that start each rerun row scores above its default-start row"
q_t6_gmf = ("on GMF (five seeds each, the shared default seven) all three variants trail FE by more than "
            "FE's seed spread")
q_nf_t6 = "On NeuMF (five seeds each) the three variants lie within one another's seed spread"
q_lrf = "`LRF init 0.1` leaves it, still below FE"
q_fig6_fe = ("MGQE lies above FE at every compared size in both straight-through forms, every gap far beyond "
             "two standard errors")
q_fig6_dpq = ("so it is above DPQ only at the smallest compared size and below it at the two larger ones; of "
              "those three gaps only the largest size's, a deficit, lies beyond two standard errors")
q_fig6_ref = ("MGQE ref-STE is above DPQ ref-STE at the smallest and the largest compared sizes and below it "
              "at the middle one, every gap within two standard errors")
q_fig6_sq = ("it is clearly above SQ at the two smaller sizes and above it by less than two standard errors "
             "at the two larger ones")
q_nf_order = "their means order unshared D first and unshared K above shared"
q_t5 = "the four methods' RMSEs lie within 1% of FE's on both tasks"
BELOW_BOTH = ("below", "beyond a", "beyond b")
FIRST3 = (0, 1, 2)  # the seeds each row had before seeds 3 and 4 were added

CLAIMS: list[AnyClaim] = [
    # negatives
    Claim("With it GMF full embedding lands at the paper's level", t3("gmf", "FE"), paper("gmf", "FE"),
          ("within a",)),
    Claim("The earlier runs drew negatives unfiltered and sat below it", nf("gmf", "FE"), t3("gmf", "FE"),
          ("below",)),
    # the straight-through form, GMF
    Claim("It trails FE on GMF by more than FE's seed spread", t3("gmf", "MGQE"), t3("gmf", "FE"),
          ("below", "beyond b")),
    Claim(q_both, t3("gmf", "MGQE ref-STE"), t3("gmf", "FE"), ("reaches",), (7, 7)),
    Claim(q_both, t3("gmf", "MGQE +closs"), t3("gmf", "FE"), ("reaches",), (5, 7)),
    Claim("`DPQ ref-STE` reaches FE", t3("gmf", "DPQ ref-STE"), t3("gmf", "FE"), ("reaches",), (7, 7)),
    Claim("`DPQ` falls just below FE's mean minus its seed spread (seven seeds each)", t3("gmf", "DPQ"),
          t3("gmf", "FE"), ("below", "beyond b"), (7, 7)),
    # NeuMF
    *[Claim(q_mgqe_nf, t3("neumf", r), t3("neumf", "FE"), ("level",), (5, 5))
      for r in ("MGQE", "MGQE ref-STE")],
    Claim("the ref-STE form with the wider spread", t3("neumf", "MGQE ref-STE"), t3("neumf", "MGQE"),
          ("wider",)),
    Claim("On the first three seeds the ref-STE form sat below the issue's", t3("neumf", "MGQE ref-STE"),
          t3("neumf", "MGQE"), ("below",), only=(FIRST3, FIRST3)),
    Claim("two more seeds closed that gap", t3("neumf", "MGQE ref-STE"), t3("neumf", "MGQE"), ("level",),
          (5, 5)),
    Claim("DPQ's two forms (five seeds each) land together on NeuMF", t3("neumf", "DPQ ref-STE"),
          t3("neumf", "DPQ"), ("level",), (5, 5)),
    *[Claim("both at FE's mean HR@10", t3("neumf", r), t3("neumf", "FE"), ("level",))
      for r in ("DPQ", "DPQ ref-STE")],
    Claim("`MGQE +closs` (five seeds) lies above FE's mean, within FE's seed spread",
          t3("neumf", "MGQE +closs"), t3("neumf", "FE"), ("above", "within b"), (5, None)),
    # batch size
    Claim(q_b8, (B8, "neumf", "FE"), t3("neumf", "FE"), ("below", "beyond a", "beyond b"), (3, None)),
    Claim(q_b8, (B8, "neumf", "FE"), paper("neumf", "FE"), ("below",)),
    # model size
    Claim("gives the size in the MGQE rows, larger than the paper's reported GMF size", paper("gmf", "MGQE"),
          t3("gmf", "MGQE"), ("smaller",)),
    *[Claim("The `MGQE-compact` rows (K=[256,16]) are below it", t3(g, r), paper("gmf", "MGQE"), ("smaller",))
      for g in ("gmf", "neumf") for r in ("MGQE-compact", "MGQE-compact ref-STE")],
    Claim("(`MGQE-compact ref-STE`, five seeds, FE seven: its mean, with a wider spread over seeds)",
          t3("gmf", "MGQE-compact ref-STE"), t3("gmf", "FE"), ("reaches", "level", "wider"), (5, 7)),
    Claim("`MGQE-compact`, the issue's form, above FE's mean", t3("neumf", "MGQE-compact"), t3("neumf", "FE"),
          ("above",), (5, 5)),
    Claim("`MGQE-compact ref-STE` at it", t3("neumf", "MGQE-compact ref-STE"), t3("neumf", "FE"), ("level",),
          (5, 5)),
    # Figure 6
    SeedsClaim("Every curve has seven seeds per point", FIG6, 7),
    *[CurveClaim(q_fig6_fe, m, "FE", ("above", "above")) for m in ("MGQE", "MGQE ref-STE")],
    GapClaim("in the issue's form its HR@10 rises less from D=16 to D=64 than DPQ's",
             (fig6("MGQE", "D=64"), fig6("MGQE", "D=16")), (fig6("DPQ", "D=64"), fig6("DPQ", "D=16")),
             "less"),
    CurveClaim(q_fig6_dpq, "MGQE", "DPQ", ("above close", "below close", "below")),
    CurveClaim(q_fig6_ref, "MGQE ref-STE", "DPQ ref-STE", ("above close", "below close", "above close")),
    CurveClaim(q_fig6_sq, "MGQE ref-STE", "SQ", ("above", "above", "above close", "above close")),
    # SASRec
    *_reach_fe(q_sas, t4, ("MGQE", "MGQE ref-STE", "MGQE +closs", "DPQ", "DPQ ref-STE", "MGQE-compact",
                           "MGQE-compact ref-STE"), seeds=5),
    Claim("DPQ's two forms lie within each other's seed spread", t4("DPQ ref-STE"), t4("DPQ"),
          ("within a", "within b")),
    Claim("as do the two compact forms", t4("MGQE-compact ref-STE"), t4("MGQE-compact"),
          ("within a", "within b")),
    Claim("In the ref-STE form its mean falls below FE's by more than FE's seed spread",
          t4("MGQE-small ref-STE"), t4("FE"), ("below", "beyond b")),
    Claim("in the issue's form (`MGQE-small`) it lies above FE's mean over five seeds, with a wider spread",
          t4("MGQE-small"), t4("FE"), ("above", "wider"), (5, 5)),
    Claim("SASRec's full embedding lands at the paper's HR@10 on five seeds, within its seed spread",
          t4("FE"), paper("sasrec", "FE"), ("within a",), (5, None)),
    Claim("On its first three seeds it lay below the paper's by more than their spread", t4("FE"),
          paper("sasrec", "FE"), ("below", "beyond a"), only=(FIRST3, None)),
    Claim("seeds 3 and 4 scored above all three", t4("FE"), t4("FE"), ("all above",), only=((3, 4), FIRST3)),
    Claim("which widened the spread and raised the mean", t4("FE"), t4("FE"), ("above", "wider"),
          only=(None, FIRST3)),
    # SASRec's positional start
    Claim(q_pos_fe, t4("FE pos-init 0.01"), t4("FE"), ("above",), (5, 5)),
    Claim(q_pos_fe, t4("FE pos-init 0.01"), paper("sasrec", "FE"), ("above",)),
    SeedsClaim("every row of table4 (the rows the issue names, `MGQE-small` and every diagnostic row; `FE "
               "pos-init 0.01` is its `FE` there), five seeds each", POS, 5, "sasrec", SASREC_ROWS),
    *_reach_fe(q_pos_reach, pos, ("MGQE-compact", "MGQE-compact ref-STE", "DPQ ref-STE", "LRF init 0.1")),
    Claim("which again lies above `LRF` by more than either row's seed spread", pos("LRF init 0.1"),
          pos("LRF"), ("above", "beyond a", "beyond b")),
    Claim("`MGQE +closs` falls below FE's mean by more than FE's seed spread and by less than its own",
          pos("MGQE +closs"), pos("FE"), ("below", "beyond b", "within a")),
    *[Claim(q_rerun, pos(r), t4(r), ("above",)) for r in SASREC_ROWS],
    *_reach_fe("SQ and DPQ reach FE", pos, ("SQ", "DPQ")),
    Claim("LRF falls below FE's mean by more than either row's seed spread", pos("LRF"), pos("FE"),
          BELOW_BOTH),
    Claim("`MGQE-small` falls below it by more than FE's seed spread", pos("MGQE-small"), pos("FE"),
          ("below", "beyond b", "within a")),
    Claim("(which that start makes narrower)", pos("FE"), t4("FE"), ("narrower",)),
    Claim("stays inside FE's seed spread there, only just", pos("MGQE"), pos("FE"), ("within b",)),
    Claim(q_swap, t4("MGQE"), t4("DPQ"), ("above", "within a", "within b")),
    Claim(q_swap, pos("MGQE"), pos("DPQ"), ("below", "within a", "within b")),
    Claim("(`MGQE ref-STE`) lies above FE's mean by more than FE's seed spread and less than its own",
          pos("MGQE ref-STE"), pos("FE"), ("above", "beyond b", "within a")),
    *[Claim(q_small_ref, side("MGQE-small ref-STE"), side("FE"), BELOW_BOTH) for side in (pos, t4)],
    Claim("(torch's positional start, five seeds). Its mean lies within the default row's seed spread",
          (BETA2, "sasrec", "FE"), t4("FE"), ("within b",), (5, None)),
    # coverage
    SeedsClaim("Every point of Figure 6 has seven", FIG6, 7),
    SeedsClaim("the GMF rows of Table 3 that are Figure 6 points", T3, 7, "gmf",
               ("FE", "SQ", "DPQ", "MGQE", "DPQ ref-STE", "MGQE ref-STE")),
    SeedsClaim("and Table 6's shared GMF variant", T6, 7, "gmf", (SHARED,)),
    SeedsClaim("Every other GMF and NeuMF row of Table 3", T3, 5, "gmf",
               ("LRF", "LRF init 0.1", "MGQE +closs", "MGQE-compact", "MGQE-compact ref-STE")),
    SeedsClaim("Every other GMF and NeuMF row of Table 3", T3, 5, "neumf"),
    SeedsClaim("every other variant of Table 6", T6, 5, "gmf", (UNSHARED_K, UNSHARED_D)),
    *[SeedsClaim("every other variant of Table 6", T6, 5, g) for g in ("neumf", "sasrec")],
    SeedsClaim("every SASRec row and every Table 5 row have five", T4, 5),
    SeedsClaim("every SASRec row and every Table 5 row have five", T5, 5),
    *[SeedsClaim("the default suite has no unfinished cell", name, None) for name in EXPERIMENTS],
    SeedsClaim("nor has `table4-pos_init_std=0.01`", POS, None),
    # LRF
    Claim(q_lrf, t3("gmf", "LRF init 0.1"), t3("gmf", "LRF"), ("above",)),
    Claim(q_lrf, t3("gmf", "LRF init 0.1"), t3("gmf", "FE"), ("below",)),
    Claim("whose LRF rows sit near FE", t3("neumf", "LRF"), t3("neumf", "FE"), ("within b",)),
    Claim("whose LRF rows sit near FE", t4("LRF"), t4("FE"), ("within b",)),
    Claim("on NeuMF the larger start (`LRF init 0.1`, five seeds each) moves the mean by less than either "
          "row's seed spread", t3("neumf", "LRF init 0.1"), t3("neumf", "LRF"), ("within a", "within b"),
          (5, 5)),
    Claim("on SASRec it raises the mean by more than either row's seed spread (five seeds each; table4)",
          t4("LRF init 0.1"), t4("LRF"), ("above", "beyond a", "beyond b"), (5, 5)),
    # earlier findings
    GapClaim("training longer (`epochs=40`) narrowed the default-form MGQE gap on GMF",
             ((E40, "gmf", "FE"), (E40, "gmf", "MGQE")), (nf("gmf", "FE"), nf("gmf", "MGQE")), "less"),
    # Table 6
    *[Claim(q_t6_gmf, t6("gmf", v), t3("gmf", "FE"), ("below", "beyond b"), (n, None))
      for v, n in ((SHARED, 7), (UNSHARED_K, 5), (UNSHARED_D, 5))],
    Claim("unshared D has the highest mean (above the shared default by more than the shared default's seed "
          "spread but by less than its own)", t6("gmf", UNSHARED_D), t6("gmf", SHARED),
          ("above", "beyond b", "within a")),
    Claim("unshared D has the highest mean", t6("gmf", UNSHARED_D), t6("gmf", UNSHARED_K), ("above",)),
    Claim("unshared K lies level with the shared default (their means differ by far less than either's seed "
          "spread)", t6("gmf", UNSHARED_K), t6("gmf", SHARED), ("level",)),
    *[Claim("while the paper found the shared variant best on GMF", paper("gmf", SHARED), paper("gmf", v),
            ("above",)) for v in (UNSHARED_K, UNSHARED_D)],
    *[Claim(q_nf_t6, t6("neumf", a), t6("neumf", b), ("within a", "within b"), (5, 5))
      for a, b in ((SHARED, UNSHARED_K), (SHARED, UNSHARED_D), (UNSHARED_K, UNSHARED_D))],
    Claim(q_nf_order, t6("neumf", UNSHARED_D), t6("neumf", UNSHARED_K), ("above",)),
    Claim(q_nf_order, t6("neumf", UNSHARED_K), t6("neumf", SHARED), ("above",)),
    *[Claim("where the paper ranked unshared K first", paper("neumf", UNSHARED_K), paper("neumf", v),
            ("above",)) for v in (SHARED, UNSHARED_D)],
    Claim("shared first, unshared D second (within each other's seed spread)", t6("sasrec", SHARED),
          t6("sasrec", UNSHARED_D), ("above", "within a", "within b"), (5, 5)),
    Claim("unshared K last, below unshared D by more than either's seed spread", t6("sasrec", UNSHARED_K),
          t6("sasrec", UNSHARED_D), BELOW_BOTH, (5, 5)),
    Claim("below shared by more than its own spread but by less than shared's", t6("sasrec", UNSHARED_K),
          t6("sasrec", SHARED), ("below", "beyond a", "within b")),
    *[Claim("On SASRec (five seeds each) the means follow the paper's order", paper("sasrec", a),
            paper("sasrec", b), ("above",)) for a, b in ((SHARED, UNSHARED_D), (UNSHARED_D, UNSHARED_K))],
    # Table 5
    *[Claim(q_t5, (T5, task, m), (T5, task, "FE"), ("within 1%",), metric="rmse")
      for task in ("relevance", "rating") for m in ("SQ", "DPQ", "MGQE")],
]
