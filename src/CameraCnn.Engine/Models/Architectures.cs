// Architectures: the networks `camcnn train --arch` builds from scratch (LeNet-style and a small ResNet).
using CameraCnn.Engine.Layers;

namespace CameraCnn.Engine.Models;

/// <summary>Builds named architectures for a given input shape [C, H, W] and class count.</summary>
public static class Architectures
{
    public static readonly string[] Names = ["lenet", "small-resnet"];

    /// <summary>The graph's output is the logits node; the trainer applies softmax cross-entropy to it.</summary>
    public static Graph Build(string name, int channels, int height, int width, int classes) => name switch
    {
        "lenet" => LeNet(channels, height, width, classes),
        "small-resnet" => SmallResNet(channels, height, width, classes),
        _ => throw new ArgumentException($"unknown architecture '{name}' (choose one of: {string.Join(", ", Names)})"),
    };

    /// <summary>
    /// LeNet-style: two conv(3x3, pad 1) + batch norm + ReLU + 2x2 max-pool blocks (16, 32 channels),
    /// then dense 128 + ReLU + dropout and the classifier.
    /// </summary>
    public static Graph LeNet(int channels, int height, int width, int classes)
    {
        var g = new Graph();
        var x = g.AddInput("input", -1, channels, height, width);
        x = ConvBnRelu(g, x, channels, 16, 3, 1, 1, "conv1");
        x = g.Add(new MaxPool2d(2, 2) { Name = "pool1" }, x);
        x = ConvBnRelu(g, x, 16, 32, 3, 1, 1, "conv2");
        x = g.Add(new MaxPool2d(2, 2) { Name = "pool2" }, x);
        int features = 32 * (height / 4) * (width / 4);
        x = g.Add(new Flatten { Name = "flatten" }, x);
        x = g.Add(new Dense(features, 128) { Name = "fc1" }, x);
        x = g.Add(new ReLU { Name = "fc1_relu" }, x);
        x = g.Add(new Dropout(0.25f, seed: 17) { Name = "dropout" }, x);
        x = g.Add(new Dense(128, classes) { Name = "logits" }, x);
        g.MarkOutput(x);
        return g;
    }

    /// <summary>
    /// A small ResNet: a 3x3 stem, three basic residual blocks (16, 32, 64 channels; the last two halve the
    /// resolution with a strided conv and a 1x1 projection shortcut), global average pooling, dense classifier.
    /// </summary>
    public static Graph SmallResNet(int channels, int height, int width, int classes)
    {
        var g = new Graph();
        var x = g.AddInput("input", -1, channels, height, width);
        x = ConvBnRelu(g, x, channels, 16, 3, 1, 1, "stem");
        x = BasicBlock(g, x, 16, 16, 1, "block1");
        x = BasicBlock(g, x, 16, 32, 2, "block2");
        x = BasicBlock(g, x, 32, 64, 2, "block3");
        x = g.Add(new GlobalAvgPool { Name = "gap" }, x);
        x = g.Add(new Flatten { Name = "flatten" }, x);
        x = g.Add(new Dense(64, classes) { Name = "logits" }, x);
        g.MarkOutput(x);
        return g;
    }

    public static Node ConvBnRelu(Graph g, Node x, int cin, int cout, int k, int stride, int pad, string name, bool relu = true)
    {
        x = g.Add(new Conv2d(cin, cout, k, stride, pad, bias: false) { Name = name }, x);
        x = g.Add(new BatchNorm2d(cout) { Name = name + "_bn" }, x);
        return relu ? g.Add(new ReLU { Name = name + "_relu" }, x) : x;
    }

    /// <summary>y = relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)), the ResNet basic block.</summary>
    public static Node BasicBlock(Graph g, Node x, int cin, int cout, int stride, string name)
    {
        var h = ConvBnRelu(g, x, cin, cout, 3, stride, 1, name + "_conv1");
        h = ConvBnRelu(g, h, cout, cout, 3, 1, 1, name + "_conv2", relu: false);
        var shortcut = stride == 1 && cin == cout ? x : ConvBnRelu(g, x, cin, cout, 1, stride, 0, name + "_proj", relu: false);
        var sum = g.Add(new ResidualAdd { Name = name + "_add" }, h, shortcut);
        return g.Add(new ReLU { Name = name + "_relu" }, sum);
    }
}
