#!/usr/bin/env python3
"""Writes resources/workloads/: the five task types' prompt sets and the demo mixed workload.

Run once by hand (the outputs are committed; nothing runs this at build time):
    python3 scripts/make_workloads.py [--out resources/workloads]
The output depends only on SEED and this file. Every text is written by the project from
templates and topic lists below (no third-party data set). The tasks follow the eMoE paper's
Table 1: news summarization (XSUM-like), financial-tweet sentiment classification, reading
comprehension QA (SQuAD-like), headline similarity comparison and human-assistant conversation.
About 12% of each task's prompts deliberately carry none of the task's keyword cues
(resources/task_keywords.txt), so a classifier's default is exercised.
"""

import argparse
import json
import math
import os
import random

SEED = 20250306
PROMPTS_PER_TASK = 240
NO_CUE_FRACTION = 0.12
MIXED_REQUESTS = 500
MIXED_RATE_PER_S = 2.0  # Poisson arrivals: exponential inter-arrival times, mean 500 ms

TASKS = ["summarization", "classification", "qa", "comparison", "conversation"]

# Per-task request limits of the mixed workload. Output lengths follow the paper's Fig. 4
# ordering (QA shortest, conversation longest, classification/comparison in between because
# models explain); SLOs make conversation and QA interactive and summarization a batch job.
TASK_LIMITS = {
    "summarization": {"max_new_tokens": 160, "slo_ttft_ms": 2000, "slo_e2e_ms": 10000},
    "classification": {"max_new_tokens": 96, "slo_ttft_ms": 1000, "slo_e2e_ms": 5000},
    "qa": {"max_new_tokens": 64, "slo_ttft_ms": 500, "slo_e2e_ms": 3000},
    "comparison": {"max_new_tokens": 112, "slo_ttft_ms": 1000, "slo_e2e_ms": 6000},
    "conversation": {"max_new_tokens": 256, "slo_ttft_ms": 300, "slo_e2e_ms": 12000},
}

# ---------------------------------------------------------------- shared content
PLACES = ["the city council", "the harbour town of Elmsford", "the northern province",
          "a coastal village", "the capital", "the river valley", "a mountain district",
          "the university town", "the industrial suburb", "the island community"]
PEOPLE = ["the mayor", "a local teacher", "the health minister", "a group of farmers",
          "the regional governor", "a retired engineer", "the school board", "volunteers",
          "the transport authority", "a team of scientists", "residents", "the police chief"]
EVENTS = [
    ("opened a new library", "after years of fundraising", "visitors queued for hours"),
    ("approved a plan to expand the tram network", "despite objections about cost",
     "construction is expected to start next spring"),
    ("recorded the wettest month in forty years", "as storms crossed the region",
     "several roads were closed by flooding"),
    ("announced a ban on single-use plastic bags", "following a public consultation",
     "shops have six months to comply"),
    ("launched a programme to plant ten thousand trees", "to cool streets in summer",
     "schools will help with the planting"),
    ("reported a sharp rise in bicycle commuting", "since new lanes were painted",
     "accidents fell by a fifth"),
    ("found a medieval coin hoard under a car park", "during routine building work",
     "the coins will be shown at the museum"),
    ("closed the old hospital wing", "because of structural problems",
     "patients were moved to a new building"),
    ("held its first marathon in a decade", "with more than three thousand runners",
     "the winner finished in just over two hours"),
    ("raised the minimum wage for council workers", "after a long dispute",
     "unions welcomed the decision"),
    ("restored a historic railway bridge", "using original stone",
     "steam trains will cross it again in May"),
    ("started a free breakfast scheme in schools", "to help struggling families",
     "teachers say pupils concentrate better"),
    ("lost power for two days", "after a fire at a substation",
     "engineers worked through the night"),
    ("won a national award for clean water", "beating forty other towns",
     "the prize money will fund new pipes"),
    ("cut bus fares for pensioners", "in a vote late on Tuesday",
     "the change takes effect next month"),
    ("discovered a rare orchid in a nature reserve", "on a survey walk",
     "botanists had thought it extinct locally"),
]
DETAILS = [
    "Officials said the cost would be shared with the national government.",
    "A spokesperson described the outcome as a turning point for the area.",
    "Critics argued that the money could have been spent on housing.",
    "The project took nearly three years to complete.",
    "Local businesses expect more visitors over the summer.",
    "A review of the decision is planned for next year.",
    "Opposition members called for an independent inquiry.",
    "Surveys suggest most residents support the change.",
    "The weather service warned that such events may become more common.",
    "Funding came partly from private donations.",
    "The announcement was made at a press conference on Monday morning.",
    "Experts said the figures should be treated with caution.",
]

TICKERS = ["$AAPL", "$TSLA", "$AMZN", "$NVDA", "$MSFT", "$GOOG", "$META", "$NFLX", "$JPM",
           "$XOM", "$BTC", "$SPY", "$AMD", "$DIS", "$BA", "$KO"]
TWEETS_POS = [
    "{t} smashed earnings expectations, guidance raised again",
    "Loading up on more {t} today, this breakout looks strong",
    "{t} up 8% premarket after record quarterly revenue",
    "Great call by management, {t} buyback is huge for shareholders",
    "{t} just hit an all time high, momentum is unreal",
    "Analysts upgrade {t} to buy with a higher price target",
]
TWEETS_NEG = [
    "{t} missed on revenue and cut guidance, ouch",
    "Dumping my {t} shares, this chart is falling apart",
    "{t} down 12% after the CEO resigned unexpectedly",
    "Regulators open an investigation into {t}, not good",
    "{t} layoffs announced as demand slows sharply",
    "Another downgrade for {t}, margins keep shrinking",
]
TWEETS_NEU = [
    "{t} reports earnings after the close on Thursday",
    "{t} annual shareholder meeting scheduled for June",
    "Watching {t} around the 200 day moving average",
    "{t} trading flat ahead of the inflation data",
    "{t} to present at an industry conference next week",
    "Volume on {t} about average so far today",
]
MACRO = ["Fed holds rates steady, markets calm", "Oil prices jump after supply cuts",
         "Treasury yields slide as inflation cools", "Jobs report beats forecasts again",
         "Dollar weakens against the euro", "Retail sales drop for a second month",
         "Housing starts rise more than expected", "Consumer confidence at a two year low"]

PASSAGES = [
    ("The Ardent Canal was completed in 1862 and linked the coal fields of the interior with "
     "the port of Haldwick. It was built by about four thousand labourers under the engineer "
     "Margaret Lowe, who designed its unusual double locks.",
     [("When was the Ardent Canal completed?", "1862"),
      ("Who designed the double locks of the Ardent Canal?", "Margaret Lowe"),
      ("How many labourers built the canal?", "about four thousand"),
      ("Which port did the canal connect to the coal fields?", "Haldwick")]),
    ("Photosynthesis takes place mainly in the leaves of plants, inside structures called "
     "chloroplasts. Using light energy, the plant turns carbon dioxide and water into glucose "
     "and releases oxygen as a by-product.",
     [("Where does photosynthesis mainly take place?", "in the leaves"),
      ("What gas is released as a by-product of photosynthesis?", "oxygen"),
      ("What do plants turn carbon dioxide and water into?", "glucose")]),
    ("The Vellmar Observatory sits at an altitude of 2,400 metres on Mount Isen. Its main "
     "telescope, installed in 1978, has a mirror four metres across and is used mostly to "
     "study distant galaxies.",
     [("At what altitude is the Vellmar Observatory?", "2,400 metres"),
      ("When was the main telescope installed?", "1978"),
      ("What is the main telescope mostly used for?", "to study distant galaxies")]),
    ("Honey bees communicate the location of flowers through a waggle dance. The angle of the "
     "dance relative to vertical shows the direction of the food compared with the sun, and "
     "the length of the waggle shows the distance.",
     [("How do honey bees communicate the location of flowers?", "a waggle dance"),
      ("What does the length of the waggle show?", "the distance"),
      ("Why does the angle of the dance matter?", "it shows the direction")]),
    ("The Treaty of Olsen was signed in 1721 by the kingdoms of Varn and Estria, ending a war "
     "that had lasted eleven years. Under its terms Estria gave up the island of Kell but kept "
     "its fishing rights.",
     [("Which kingdoms signed the Treaty of Olsen?", "Varn and Estria"),
      ("How long had the war lasted?", "eleven years"),
      ("What did Estria give up?", "the island of Kell")]),
    ("Basalt forms when lava rich in iron and magnesium cools quickly at the surface. Because "
     "it cools fast, its crystals are very small, which gives the rock its fine grain and dark "
     "colour.",
     [("How does basalt form?", "lava cools quickly at the surface"),
      ("Why are the crystals in basalt small?", "because it cools fast"),
      ("What colour is basalt?", "dark")]),
    ("The composer Ilse Marden wrote her first symphony at nineteen while studying in Vienna. "
     "It was premiered in 1904 by the city orchestra and later became her best known work.",
     [("Who wrote a symphony at nineteen?", "Ilse Marden"),
      ("Where was Ilse Marden studying?", "Vienna"),
      ("When was the symphony premiered?", "1904")]),
    ("Rust is iron oxide, formed when iron reacts with oxygen in the presence of water. Salt "
     "water speeds up the reaction, which is why ships and coastal bridges need regular "
     "painting.",
     [("What is rust?", "iron oxide"),
      ("What speeds up rusting?", "salt water"),
      ("Why do coastal bridges need regular painting?", "salt water speeds up rust")]),
    ("The Hollin Line railway opened in 1899 and carried wool from the upland farms to the "
     "mills of Brent. Passenger services ended in 1965, but a heritage group reopened eight "
     "miles of track in 1994.",
     [("When did the Hollin Line open?", "1899"),
      ("What did the railway carry?", "wool"),
      ("When did passenger services end?", "1965"),
      ("How many miles of track were reopened?", "eight")]),
    ("Arctic terns migrate from the Arctic to the Antarctic and back every year, the longest "
     "known migration of any animal. A tern can fly more than seventy thousand kilometres in a "
     "single year.",
     [("Where do Arctic terns migrate to?", "the Antarctic"),
      ("How far can a tern fly in a year?", "more than seventy thousand kilometres"),
      ("Which animal has the longest known migration?", "the Arctic tern")]),
]
QA_BARE = [
    "What is the boiling point of water at sea level",
    "Who painted the ceiling of the Sistine Chapel",
    "When did the first person walk on the moon",
    "Where is the largest desert in the world",
    "Why is the sky blue during the day",
    "How many bones are in the adult human body",
    "What is the capital city of Australia",
    "Who wrote the play Hamlet",
    "Which planet has the most moons",
    "What causes the seasons on Earth",
    "How does a vaccine train the immune system",
    "When was the printing press invented",
    "What is the chemical symbol for gold",
    "Who discovered penicillin",
    "Where do most earthquakes happen",
    "How long does light from the sun take to reach Earth",
]

HEADLINE_PAIRS = [
    ("Council approves new tram line after long debate",
     "City leaders back tram expansion despite cost fears"),
    ("Storms bring record rainfall to northern towns",
     "Wettest month in forty years floods valley roads"),
    ("Local team wins cup in dramatic penalty shootout",
     "Underdogs lift trophy after tense final"),
    ("Factory closure puts 300 jobs at risk",
     "Workers fear for future as plant shuts its doors"),
    ("Scientists find rare orchid thought lost",
     "Botanists celebrate return of vanished flower"),
    ("Bus fares cut for pensioners from next month",
     "Older riders to pay less on city buses"),
    ("Museum displays medieval coin hoard",
     "Car park treasure goes on show"),
    ("Heatwave warning issued for the weekend",
     "Temperatures expected to soar in coming days"),
    ("New bridge opens to traffic ahead of schedule",
     "Drivers cross river crossing weeks early"),
    ("School breakfast scheme expands to all districts",
     "Free morning meals for every pupil in the region"),
    ("Power restored after two day blackout",
     "Engineers bring lights back on following substation fire"),
    ("Election turnout lowest in three decades",
     "Voters stay home as participation slumps"),
    ("Stock market rallies on rate cut hopes",
     "Shares climb as investors bet on cheaper money"),
    ("Hospital wing closed over safety concerns",
     "Patients moved as old building deemed unsafe"),
    ("Tree planting drive aims to cool city streets",
     "Ten thousand saplings to shade the summer heat"),
    ("Marathon returns after ten year break",
     "Thousands run as city race makes a comeback"),
]
HEADLINE_UNRELATED = [
    "Chef opens noodle bar in former bank", "Rare comet visible this week",
    "Library extends opening hours", "Fishing fleet returns early as gales hit",
    "Chess prodigy wins national title", "Airport adds routes to three new cities",
]
THINGS = [("electric cars", "petrol cars"), ("renting a flat", "buying a house"),
          ("trains", "planes for short trips"), ("Python", "C++"), ("tea", "coffee"),
          ("solar power", "wind power"), ("e-books", "paper books"),
          ("working from home", "working in an office"), ("cats", "dogs as pets"),
          ("running", "swimming for fitness"), ("SQLite", "PostgreSQL"),
          ("public schools", "private schools")]

CONV_TOPICS = [
    ("I'm planning a trip to Portugal next month", "any tips on what to pack"),
    ("I just adopted a puppy", "how do I stop it chewing the furniture"),
    ("I want to start running again after a long break", "how should I begin"),
    ("My sourdough never rises properly", "what am I doing wrong"),
    ("I have a job interview on Friday", "I'm really nervous about it"),
    ("I'd like to learn to play the guitar", "where should I start"),
    ("My friend's birthday is this weekend", "I have no idea what to get her"),
    ("I keep waking up at 4am", "do you have any advice for sleeping better"),
    ("I'm thinking about switching careers into teaching", "is that a good idea"),
    ("We're hosting dinner for eight people on Saturday", "can you suggest a simple menu"),
    ("I've been feeling a bit lonely since I moved", "how can I meet new people"),
    ("I want to save more money this year", "can you help me make a plan"),
    ("My tomato plants have yellow leaves", "should I be worried"),
    ("I'm bored on a rainy Sunday", "what could I do at home"),
    ("I'm writing a short story about a lighthouse keeper", "can you help with ideas"),
    ("I need to write a thank-you note to my old teacher", "could you help me word it"),
]
OPENERS = ["Hi!", "Hello,", "Hey there,", "Hi there!", "Good morning!", "Hello again,",
           "Hey,", "Hi, hope you're well."]
CLOSERS = ["Thanks!", "Thanks in advance.", "Any advice would be great.", "What do you think?",
           "Can you help?", "I'd love your thoughts.", ""]


def article(rng):
    place, person = rng.choice(PLACES), rng.choice(PEOPLE)
    what, why, after = rng.choice(EVENTS)
    subject = place if rng.random() < 0.6 else person
    parts = [f"{subject[0].upper() + subject[1:]} {what} {why}.",
             f"{after[0].upper() + after[1:]}."]
    parts += rng.sample(DETAILS, rng.randint(1, 5))
    return " ".join(parts)


def summarization(rng, cue):
    text = article(rng)
    if not cue:
        return rng.choice([f"{text}", f"Article: {text}", f"News report. {text}",
                           f"{text} In short:"])
    t = rng.choice([
        "Summarize the following article in one sentence: {a}",
        "Summarize this news story: {a}",
        "Write a short summary of the text below. {a}",
        "{a} TL;DR:",
        "TL;DR this for me: {a}",
        "Give me the key points of this report: {a}",
        "Write a synopsis for the following text: {a}",
        "Condense this article into two sentences: {a}",
        "Provide a brief summary: {a}",
        "Summarise the main points of the following: {a}",
        "Can you summarize this? {a}",
        "Read the article and write a one-line summary. {a}",
    ])
    return t.format(a=text)


def tweet(rng):
    kind = rng.random()
    t = rng.choice(TICKERS)
    if kind < 0.15:
        return rng.choice(MACRO)
    pool = TWEETS_POS if kind < 0.45 else TWEETS_NEG if kind < 0.75 else TWEETS_NEU
    s = rng.choice(pool).format(t=t)
    if rng.random() < 0.3:
        s += " " + rng.choice(["#stocks", "#investing", "#markets", "#trading", "#earnings"])
    return s


def classification(rng, cue):
    tw = tweet(rng)
    if not cue:
        return rng.choice([f"{tw}", f"Tweet: {tw}", f"\"{tw}\" - bullish, bearish or flat?",
                           f"{tw} Thoughts?"])
    t = rng.choice([
        "Classify the sentiment of this tweet as positive, negative or neutral: {t}",
        "What is the sentiment of the following financial tweet? {t}",
        "Sentiment analysis. Tweet: {t} Label:",
        "Which category does this tweet belong to: bullish, bearish or neutral? {t}",
        "Label this tweet as positive, negative or neutral. {t}",
        "Classify the following market comment by sentiment: {t}",
        "Is the sentiment of this tweet positive, negative or neutral? {t}",
        "Categorize this tweet (positive / negative / neutral): {t}",
        "Tweet: {t} Classify its sentiment.",
        "Determine the sentiment category of: {t}",
    ])
    return t.format(t=tw)


def qa(rng, cue):
    passage, questions = rng.choice(PASSAGES)
    q, _ = rng.choice(questions)
    if rng.random() < 0.35:
        q = rng.choice(QA_BARE) + "?"
        passage = None
    if not cue:
        # A bare fact request without a question word or question mark.
        stem = q.rstrip("?").split(" ", 1)[1] if " " in q else q
        if passage:
            return f"{passage} Tell me the answer: {stem}."
        return f"Quick fact needed: {stem}."
    if passage is None:
        return rng.choice([q, f"Question: {q}", f"Answer briefly. {q}", f"{q} Answer:"])
    t = rng.choice([
        "Context: {p} Question: {q}",
        "Read the passage and answer the question. {p} {q}",
        "{p} Based on the passage, {lq}",
        "Answer the question using the text. Text: {p} Question: {q}",
        "Passage: {p} Q: {q} A:",
        "According to the passage, {lq} {p}",
    ])
    return t.format(p=passage, q=q, lq=q[0].lower() + q[1:])


def comparison(rng, cue):
    r = rng.random()
    if r < 0.7:
        a, b = rng.choice(HEADLINE_PAIRS)
        if rng.random() < 0.5:
            a, b = b, a
        if rng.random() < 0.25:
            b = rng.choice(HEADLINE_UNRELATED)
        if not cue:
            return rng.choice([f"Headline 1: {a}. Headline 2: {b}.", f"\"{a}\" / \"{b}\"",
                               f"{a} -- {b}. Score 0 to 5."])
        t = rng.choice([
            "Compare these two headlines and rate their similarity from 0 to 5. A: {a} B: {b}",
            "How similar are these headlines? 1) {a} 2) {b}",
            "Do these two headlines have the same meaning? \"{a}\" versus \"{b}\"",
            "What is the difference between the headlines \"{a}\" and \"{b}\"?",
            "Rate the semantic similarity: {a} vs {b}",
            "Compare: \"{a}\" and \"{b}\". Are they about the same event?",
            "Headline A: {a}. Headline B: {b}. Compare them and give a similarity score.",
        ])
        return t.format(a=a, b=b)
    x, y = rng.choice(THINGS)
    if not cue:
        return rng.choice([f"{x} or {y}: pros and cons.", f"{x}, {y}: strengths, weaknesses."])
    t = rng.choice([
        "Compare {x} and {y}.",
        "What is the difference between {x} and {y}?",
        "{x} versus {y}: which is better and why?",
        "Write a comparison of {x} vs {y} for a beginner.",
        "Contrast {x} with {y} in a short table.",
    ])
    return t.format(x=x, y=y)


def conversation(rng, cue):
    situation, ask = rng.choice(CONV_TOPICS)
    if not cue:
        # No opener, no request phrase: a bare statement.
        return rng.choice([f"{situation}.", f"{situation}, {ask.split(' ', 1)[1]}."])
    parts = []
    if rng.random() < 0.7:
        parts.append(rng.choice(OPENERS))
    question = ask.split(" ", 1)[0] in ("how", "what", "where", "can", "could", "do", "is",
                                        "should", "any")
    parts.append(f"{situation}, {ask}{'?' if question else '.'}")
    closer = rng.choice(CLOSERS)
    if closer:
        parts.append(closer)
    return " ".join(parts)


MAKERS = {"summarization": summarization, "classification": classification, "qa": qa,
          "comparison": comparison, "conversation": conversation}


def clean(s):
    s = " ".join(s.replace("\t", " ").split())
    assert "\n" not in s and s
    return s


def make_prompts(rng, task):
    seen, out = set(), []
    attempts = 0
    while len(out) < PROMPTS_PER_TASK:
        attempts += 1
        assert attempts < 100000, task
        cue = rng.random() >= NO_CUE_FRACTION
        p = clean(MAKERS[task](rng, cue))
        if p in seen:
            continue
        seen.add(p)
        out.append(p)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "resources",
                                                  "workloads"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(SEED)
    prompts = {}
    for task in TASKS:
        prompts[task] = make_prompts(rng, task)
        with open(os.path.join(args.out, task + ".txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(prompts[task]) + "\n")
    # Mixed workload: uniform task mix (the paper's multinomial), Poisson arrivals.
    t_ms = 0.0
    with open(os.path.join(args.out, "demo_mixed.jsonl"), "w", encoding="utf-8") as f:
        for _ in range(MIXED_REQUESTS):
            t_ms += -math.log(1.0 - rng.random()) / MIXED_RATE_PER_S * 1000.0
            task = rng.choice(TASKS)
            lim = TASK_LIMITS[task]
            req = {"task": task, "text": rng.choice(prompts[task]), "arrival_ms": round(t_ms, 3),
                   "slo_ttft_ms": lim["slo_ttft_ms"], "slo_e2e_ms": lim["slo_e2e_ms"],
                   "max_new_tokens": lim["max_new_tokens"]}
            f.write(json.dumps(req, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
