"""Word classes for the key-phrase chunker: a closed-class list plus a packaged POS table."""

from __future__ import annotations

import functools
import gzip
import importlib.resources

# Bit masks shared with ``_lexicon_build`` (kept literal so importing this
# module never imports the build script).
NOUN = 1
VERB = 2
ADJ = 4
ADV = 8


def _words(text: str) -> frozenset[str]:
    # Word lists are kept as plain text so they stay easy to read and edit.
    return frozenset(text.split())


# Function words, discourse markers and speech fillers: none of these may sit
# inside a key phrase. Written for this project; the split follows ordinary
# English grammar (determiners, pronouns, prepositions, conjunctions,
# auxiliaries, modals, wh-words, degree adverbs, fillers).
STOPWORDS: frozenset[str] = _words(
    """
    a an the this that these those some any no every each either neither all both half
    many few several such what which whatever whichever whose own same i me my mine
    myself we us our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves one
    ones oneself someone somebody something anyone anybody anything everyone everybody
    everything nobody nothing none who whom whoever about above across after against
    along amid among around as at before behind below beneath beside besides between
    beyond but by despite down during except for from in inside into like near of off on
    onto out outside over past per since than through throughout till to toward towards
    under underneath unlike until up upon versus via with within without and or nor so
    yet if then else because although though while whereas whether unless once when
    whenever where wherever why how however am is are was were be been being have has
    had having do does did doing done will would shall should can could may might must
    ought need dare cannot et al gonna wanna gotta lemme gimme not no yes yeah yep nope okay ok
    oh ah aha uh um umm uhm er erm hmm hm mm mhm uh-huh huh wow hey hi hello bye please thanks
    thank very really quite rather too also just only even still already again ever
    never always often sometimes usually here there now today tonight tomorrow yesterday
    well actually basically literally maybe perhaps probably definitely certainly anyway
    anyways sure right kind sort lot lots bit thing things stuff etc vs e.g i.e first
    last next zero two three four five six seven eight nine ten eleven twelve twenty thirty
    forty fifty sixty seventy eighty ninety hundred hundreds thousand thousands million
    millions billion billions dozen dozens
    """
)

# Quantity words that modify a noun ("more wildfires") but never head a phrase.
MODIFIERS: frozenset[str] = _words("more most less least fewer other another much")

# Evaluative and bookkeeping adjectives: they judge or locate a thing rather
# than name a kind of it, so a phrase never starts with one ("effective
# student leadership" -> "student leadership"). Written for this project;
# "new", "more" and "other" are deliberately absent, since the service keeps
# them ("more wildfires").
GENERIC_ADJECTIVES: frozenset[str] = _words(
    """
    basic effective current efficient standard practical alternative specific given
    various different certain important novel simple main major good better best
    recent existing possible previous typical common significant useful traditional
    conventional particular appropriate suitable relevant powerful successful popular key
    proper essential potential actual overall respective corresponding following further
    additional related resulting resultant original whole entire complete full true usual
    modern fundamental necessary interesting valid numerous similar present future latest
    individual initial final available subsequent extensive detailed well-known severe
    """
)

# Nouns too general to be a key phrase on their own (they still head longer
# phrases: "sampling method"). Written for this project.
GENERIC_NOUNS: frozenset[str] = _words(
    """
    way ways time times people part parts case cases number numbers example examples use
    uses type types form forms fact facts point points paper papers article work study
    studies result results method methods approach approaches problem problems model
    models issue issues question questions idea ideas area areas level levels value
    values process order terms term basis set sets system systems data information
    analysis effect effects purpose purposes aspect aspects feature features
    """
)

# Nouns that measure rather than name ("a large number of cases", "a host of
# problems"); before "of" they end the phrase instead of heading it.
QUANTITY_NOUNS: frozenset[str] = _words(
    "number numbers variety range array amount amounts majority host deal couple pair "
    "plenty handful bunch"
)

# Lowercase particles inside personal names ("Peter de Carlo", "Ludwig van
# Beethoven"): a capitalised word after one continues the name.
NAME_PARTICLES: frozenset[str] = _words(
    "de da di del della van von der den la le du dos das bin ibn el ter st"
)

# Determiners and possessives: a noun/verb "-s" word before one is a verb.
DETERMINERS: frozenset[str] = _words(
    "a an the this that these those my your his her its our their every each some any no"
)

# Words that start a verb's object or complement: a noun/verb "-s" form right
# after a noun and before one of these is the verb ("the suit attempts to").
OBJECT_CUES: frozenset[str] = DETERMINERS | _words("to it them him her us me you up out")

# A noun/verb word right after one of these is read as a verb ("we hit",
# "to change", "will alert").
VERB_CUES: frozenset[str] = _words(
    """
    i we you he she they it who that which to will would shall should can could may
    might must do does did don't doesn't didn't won't can't couldn't wouldn't shouldn't
    i'm we're you're they're he's she's it's i'll we'll you'll they'll i've we've you've
    they've i'd we'd you'd they'd not never also just always often
    """
)


@functools.lru_cache(maxsize=1)
def pos_table() -> dict[str, int]:
    """Load the packaged word -> POS bit-mask table (cached after the first call).

    Words absent from the table are plain nouns (or unknown words, which the
    chunker also treats as nouns).

    Returns:
        A mapping from a lowercase word form to an OR of ``NOUN``, ``VERB``,
        ``ADJ`` and ``ADV``.
    """
    resource = importlib.resources.files(__package__) / "data" / "lexicon.txt.gz"
    text = gzip.decompress(resource.read_bytes()).decode("utf-8")
    table: dict[str, int] = {}
    for line in text.splitlines():
        mask, _, words = line.partition("\t")
        table.update(dict.fromkeys(words.split(), int(mask)))
    return table
