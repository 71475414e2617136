using Orleans.AiFleet.GrainInterfaces.Lifecycle;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>
/// Feedback judged against the answer it is about, and counted: every row for the version that answered (its live
/// figures), and in a running experiment's arm only what may decide the experiment: nothing about an answer to a
/// request that named its version (the traffic policy did not route it, so it is no sample of the arm).
/// </summary>
internal static class FeedbackCounting
{
    /// <summary>
    /// Counts <paramref name="feedback"/> on <paramref name="record"/> in <paramref name="live"/>, and in
    /// <paramref name="arm"/> (null when the version is no arm of a running experiment) where it may.
    /// </summary>
    public static (int Correct, int Counted, string? NotCountedBecause) Count(PredictionRecord record, Feedback feedback, LabelCounts live, LabelCounts? arm)
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

        Add(arm, feedback, rows, correct, absoluteError);
        return (correct, rows, null);
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
