// Package agent does the everyday things of a signed-in atproto account,
// each in one call on an [Agent]: records ([Agent.CreateRecord],
// [Agent.PutRecord] with compare-and-swap, [Agent.GetRecord],
// [Agent.ListRecords] as an iterator, [Agent.DeleteRecord],
// [Agent.ApplyWrites], [Agent.DescribeRepo]), blobs ([Agent.UploadBlob],
// [Agent.GetBlob]), Bluesky posts with images, links, mentions, hashtags,
// replies and languages ([Agent.Post]), the profile
// ([Agent.UpdateProfile], [Agent.SetAvatar]), reads from the AppView
// ([Agent.GetProfile], [Agent.GetTimeline], [Agent.GetAuthorFeed]) and
// identity ([Agent.Identity], [Agent.GetSession]).
//
// Everything goes to the account's PDS through the session's
// authenticated client; AppView and chat calls are forwarded by the PDS
// (package xrpc sets the atproto-proxy header). Writes, uploads and
// proxied calls are checked against the session's granted scope before
// they are sent, and failures are the typed errors of package xrpc.
//
// Post with an image:
//
//	a, err := agent.New(sess, nil)
//	if err != nil { … }
//	img, err := os.Open("cat.jpg")
//	if err != nil { … }
//	defer img.Close()
//	res, err := a.Post(ctx, "My cat 🐈 https://example.com #caturday", &agent.PostOptions{
//		Images: []agent.Image{{Data: img, Alt: "A grey cat asleep on a keyboard"}},
//		Langs:  []string{"en"},
//	})
package agent
