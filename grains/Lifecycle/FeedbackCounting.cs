using Orleans.AiFleet.GrainInterfaces.Lifecycle;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>
/// Feedback judged against the answer it is about, and counted: every row for the version that answered (its live
/// figures), and in a running experiment's arm only what may decide the experiment: nothing about an answer to a
/// request that named its version (the traffic policy did not route it, so it is no sample of the arm), and from each
/// user no more rows than <see cref="UserCap"/>.
/// </summary>
internal static class FeedbackCounting
{
    /// <summary>
    /// The rows one user can have counted in one arm: <paramref name="share"/> of the experiment's
    /// <paramref name="minLabels"/>, at least one. The accuracy test runs only once both arms hold
    /// <paramref name="minLabels"/> labels, so whenever it runs no user holds more than <paramref name="share"/> of an
    /// arm's labels (at the default 10 %, a decision needs at least ten users' labels in each arm), however many
    /// answers they pin, label or batch into one request. A fixed number per user would not follow what the operator
    /// asked for (minLabels 50 or 5,000), and a share of the labels counted so far would let the first labeller take all
    /// of an empty arm. The cap holds for the whole experiment: labels are counted since it started, not per step.
    /// </summary>
    public static int UserCap(int minLabels, double share) => Math.Max(1, (int)Math.Floor((share * minLabels) + 1e-9));

    /// <summary>
    /// Counts <paramref name="feedback"/> on <paramref name="record"/> in <paramref name="live"/>, and in
    /// <paramref name="arm"/> (null when the version is no arm of a running experiment) where it may: the user's rows
    /// in order, up to <paramref name="cap"/> in all.
    /// </summary>
    public static (int Correct, int Counted, string? NotCountedBecause) Count(PredictionRecord record, Feedback feedback, LabelCounts live, LabelCounts? arm, int cap)
    {
        var rows = record.Labels.Length;
        var (correct, absoluteError) = Judge(record, feedback, rows);
        Add(live, feedback, rows, correct, absoluteError);
        if (arm is null)
        {
            return (correct, 0, null);
        }

        if (record.Pinned)
        {
            return (correct, 0, FeedbackExclusions.Pinned);
        }

        var counted = (int)Math.Clamp(cap - arm.ByUser.GetValueOrDefault(feedback.User), 0, rows);
        arm.OverCap += rows - counted;
        if (counted > 0)
        {
            var (countedCorrect, countedError) = counted == rows ? (correct, absoluteError) : Judge(record, feedback, counted);
            Add(arm, feedback, counted, countedCorrect, countedError);
            arm.ByUser[feedback.User] = arm.ByUser.GetValueOrDefault(feedback.User) + counted;
        }

        return (correct, counted, counted < rows ? FeedbackExclusions.UserCap : null);
    }

    /// <summary>Rows right (labels) or summed absolute error (scores) over the answer's first <paramref name="rows"/> rows.</summary>
    private static (int Correct, double AbsoluteError) Judge(PredictionRecord record, Feedback feedback, int rows)
    {
        var (correct, absoluteError) = (0, 0.0);
        for (var r = 0; r < rows; r++)
        {
            if (feedback.Labels is { } labels)
            {
                correct += labels[r] == record.Labels[r] ? 1 : 0;
            }
            else
            {
                absoluteError += Math.Abs(feedback.Scores![r] - record.Scores[r]);
            }
        }

        return (correct, absoluteError);
    }

    private static void Add(LabelCounts counts, Feedback feedback, int rows, int correct, double absoluteError)
    {
        if (feedback.Labels is not null)
        {
            counts.Labelled += rows;
            counts.Correct += correct;
        }
        else
        {
            counts.Scored += rows;
            counts.AbsoluteError += absoluteError;
        }
    }
}
