"""Other ways to write ``DINOSegmentation``: ``CORRECT`` (full marks) and ``WRONG`` (no points); see
``tests.alternatives``."""

CORRECT = {
    "two-layer-mlp-weight-decay": """
class DINOSegmentation(DINOSegmentation):
    def __init__(self, device, num_classes, inp_dim=384):
        self.device, self.num_classes, self.inp_dim = device, int(num_classes), inp_dim
        self.model = nn.Sequential(nn.Linear(inp_dim, 256), nn.ReLU(), nn.Linear(256, self.num_classes)).to(device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3, weight_decay=1e-2)
""",
    "three-layer-1024-mlp-no-weight-decay": """
class DINOSegmentation(DINOSegmentation):
    def __init__(self, device, num_classes, inp_dim=384):
        self.device, self.num_classes, self.inp_dim = device, int(num_classes), inp_dim
        self.model = nn.Sequential(nn.Linear(inp_dim, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                                   nn.Linear(1024, self.num_classes)).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
""",
    "linear-sgd": """
class DINOSegmentation(DINOSegmentation):
    def __init__(self, device, num_classes, inp_dim=384):
        self.device, self.num_classes, self.inp_dim = device, int(num_classes), inp_dim
        self.model = nn.Linear(inp_dim, self.num_classes).to(device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-3)
""",
    "sklearn-logistic-regression-numpy": """
class DINOSegmentation:
    def __init__(self, device, num_classes, inp_dim=384):
        from sklearn.linear_model import LogisticRegression
        self.classifier = LogisticRegression(C=0.1, max_iter=1000)

    def train(self, X, Y, num_iters=500):
        self.classifier.fit(np.asarray(X, dtype=np.float64).reshape(len(Y), -1), np.asarray(Y))

    def inference(self, X):
        return self.classifier.predict(np.asarray(X, dtype=np.float64)).astype(np.int64)
""",
    "linear-adam-no-weight-decay": """
class DINOSegmentation(DINOSegmentation):
    def __init__(self, device, num_classes, inp_dim=384):
        self.device, self.num_classes, self.inp_dim = device, int(num_classes), inp_dim
        self.model = nn.Linear(inp_dim, self.num_classes).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
""",
    "nearest-neighbour": """
class DINOSegmentation:
    def __init__(self, device, num_classes, inp_dim=384):
        self.device, self.num_classes, self.inp_dim = device, num_classes, inp_dim

    def train(self, X, Y, num_iters=500):
        self.X = torch.as_tensor(X).float().reshape(-1, self.inp_dim)
        self.Y = torch.as_tensor(Y).long().reshape(-1)

    def inference(self, X):
        X = torch.as_tensor(X).float()
        nearest = torch.cdist(X.reshape(-1, self.inp_dim), self.X).argmin(dim=1)
        return self.Y[nearest].reshape(X.shape[:-1])
""",
    "nearest-neighbour-cosine": """
class DINOSegmentation:
    def __init__(self, device, num_classes, inp_dim=384):
        self.device = device

    def train(self, X, Y, num_iters=500):
        self.X = F.normalize(torch.as_tensor(X).float(), dim=-1)
        self.Y = torch.as_tensor(Y).long()

    def inference(self, X):
        return self.Y[(F.normalize(torch.as_tensor(X).float(), dim=-1) @ self.X.T).argmax(dim=-1)]
""",
    "k-nearest-neighbours-vote": """
class DINOSegmentation:
    def __init__(self, device, num_classes, inp_dim=384, k=7):
        self.num_classes, self.k = num_classes, k

    def train(self, X, Y, num_iters=500):
        self.X, self.Y = torch.as_tensor(X).float(), torch.as_tensor(Y).long()

    def inference(self, X):
        neighbours = torch.cdist(torch.as_tensor(X).float(), self.X).topk(self.k, largest=False).indices  # [N, k]
        votes = F.one_hot(self.Y[neighbours], self.num_classes).sum(dim=1)  # [N, C]
        return votes.argmax(dim=-1)
""",
    "sklearn-k-neighbours": """
class DINOSegmentation:
    def __init__(self, device, num_classes, inp_dim=384):
        from sklearn.neighbors import KNeighborsClassifier
        self.classifier = KNeighborsClassifier(n_neighbors=5)

    def train(self, X, Y, num_iters=500):
        self.classifier.fit(np.asarray(X), np.asarray(Y))

    def inference(self, X):
        return torch.from_numpy(self.classifier.predict(np.asarray(X))).long()
""",
    "nearest-class-mean": """
class DINOSegmentation:
    def __init__(self, device, num_classes, inp_dim=384):
        self.num_classes = num_classes

    def train(self, X, Y, num_iters=500):
        X, Y = torch.as_tensor(X).float(), torch.as_tensor(Y).long()
        self.classes = torch.unique(Y)
        self.means = torch.stack([X[Y == c].mean(dim=0) for c in self.classes])  # [C', D]

    def inference(self, X):
        return self.classes[torch.cdist(torch.as_tensor(X).float(), self.means).argmin(dim=-1)]
""",
}

WRONG = {
    "never-trained": """
class DINOSegmentation(DINOSegmentation):
    def train(self, X, Y, num_iters=500):
        pass
""",
    "predicts-the-commonest-label": """
class DINOSegmentation(DINOSegmentation):
    def train(self, X, Y, num_iters=500):
        self.label = int(torch.as_tensor(Y).flatten().mode().values)

    def inference(self, X):
        return torch.full(torch.as_tensor(X).shape[:-1], self.label, dtype=torch.long)
""",
    "returns-the-logits": """
class DINOSegmentation(DINOSegmentation):
    @torch.no_grad()
    def inference(self, X):
        return self.model(torch.as_tensor(X).float())
""",
    "untrained-mlp": """
class DINOSegmentation(DINOSegmentation):
    def __init__(self, device, num_classes, inp_dim=384):
        super().__init__(device, num_classes, inp_dim)
        self.model = nn.Sequential(nn.Linear(inp_dim, 256), nn.ReLU(), nn.Linear(256, self.num_classes))

    def train(self, X, Y, num_iters=500):
        self.model.eval()  # the loop was left out
""",
}
