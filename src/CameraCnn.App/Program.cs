// camcnn: the one executable. Each subcommand lives in Commands/; this file only assembles them.
using System.CommandLine;
using CameraCnn.App.Commands;

namespace CameraCnn.App;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("camcnn: a webcam CNN with its own engine. Train, evaluate, predict and run ONNX models on the CPU.")
        {
            RunCommand.Create(),
            TrainCommand.Create(),
            EvalCommand.Create(),
            PredictCommand.Create(),
            InferCommand.Create(),
            BenchCommand.Create(),
            CollectCommand.Create(),
        };
        return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }
}
